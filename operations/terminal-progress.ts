import { SingleBar } from 'cli-progress';
import type { SyncRunDocument } from '../db/sync-runs-repository';
import type { OperationsDeps } from './context';
import { waitForSyncRun, type SyncTicket, type WaitOptions, type WaitProgress } from './sync';

const PHASES = ['queued', 'reading', 'planning', 'applying', 'done'] as const;

/**
 * Waits for a requested run, from the company workflow's `status` query and the run's
 * `syncRuns.progress`: a live bar on a TTY, one line per phase otherwise (CI logs stay readable).
 */
export async function waitWithProgress(
  deps: OperationsDeps,
  ticket: SyncTicket,
  opts: Pick<WaitOptions, 'timeoutMs' | 'noWorkerWaitMs'> = {},
): Promise<SyncRunDocument> {
  const bar = process.stderr.isTTY
    ? new SingleBar({
        format: '{phase} |{bar}| pages {pages} · users {users} · created {created} · updated {updated}',
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
      })
    : null;
  bar?.start(PHASES.length - 1, 0, { phase: 'queued'.padEnd(8), pages: 0, users: 0, created: 0, updated: 0 });
  let lastPhase = '';
  const onProgress = (p: WaitProgress) => {
    const phase = p.phase === 'queued' ? 'queued' : p.run.progress.phase;
    const run = p.phase === 'running' ? p.run : null;
    // A read letting another company's read of its tenant go first says so, not "reading" at a standstill.
    const waiting = run?.progress.phase === 'reading' ? run.progress.waiting : undefined;
    bar?.update(PHASES.indexOf(phase), {
      phase: (waiting ? 'waiting' : phase).padEnd(8),
      pages: run?.progress.pagesRead ?? 0,
      users: run?.progress.usersRead ?? 0,
      created: run?.counts?.created ?? 0,
      updated: run?.counts?.updated ?? 0,
    });
    // A queued request waiting for a worker says so, once, and again if it changes.
    const shown =
      p.phase === 'queued' && p.noWorkerOn ? `${phase}:${p.noWorkerOn}` : waiting ? `${phase}:waiting` : phase;
    if (!bar && shown !== lastPhase) {
      const detail =
        p.phase === 'queued'
          ? p.noWorkerOn
            ? ` — no worker is serving task queue ${p.noWorkerOn} right now; the run starts when one is`
            : p.behindRunId
              ? ` behind run ${p.behindRunId}`
              : ''
          : waiting
            ? ` (run ${p.run._id}) — waiting for another company's read of the same Lucca tenant to go first, ` +
              `at most until ${waiting.atMostUntil.toISOString()}`
            : ` (run ${p.run._id})`;
      process.stderr.write(`… ${phase}${detail}\n`);
    }
    lastPhase = shown;
  };
  try {
    return await waitForSyncRun(deps, ticket, { onProgress, ...opts });
  } finally {
    bar?.stop();
  }
}
