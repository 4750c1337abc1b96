// A sync worker as its own process, for the benchmark and the reliability checks: they measure its
// memory, read its logs and SIGKILL it. Built by `runWorker`, as `npm run worker` builds the real
// one, configured by the environment (config/env), plus three knobs: WORKFLOW_BUNDLE_PATH
// (pre-bundled workflow code, so that restarts are quick and webpack does not inflate the peak
// memory being measured), LUCCA_PAGE_SIZE (more pages per company), WORKER_SHUTDOWN_GRACE_MS (a
// shorter grace time, to stop a worker past it quickly) and COUNT_COMMANDS=1 (MongoDB commands
// counted; a line on stdin asks for the totals so far — not a signal: Temporal's runtime shuts the
// worker down on SIGUSR2).
import { readFile } from 'node:fs/promises';
import { runWorker } from '../../workers/main';
import { WORKER_COMMAND_COUNTS, WORKER_EXIT, WORKER_READY } from './child-worker';
import { countCommands } from '../bench/command-counter';

async function main(): Promise<void> {
  const bundlePath = process.env.WORKFLOW_BUNDLE_PATH;
  const pageSize = process.env.LUCCA_PAGE_SIZE ? Number(process.env.LUCCA_PAGE_SIZE) : undefined;
  const graceMs = process.env.WORKER_SHUTDOWN_GRACE_MS ? Number(process.env.WORKER_SHUTDOWN_GRACE_MS) : undefined;
  try {
    await runWorker({
      ...(bundlePath ? { workflowBundle: { code: await readFile(bundlePath, 'utf8') } } : {}),
      luccaPageSize: pageSize,
      shutdownGraceMs: graceMs,
      // Throwaway task queues: no sweeper schedule left behind on the shared Temporal server.
      sweepSchedule: false,
      ...(process.env.COUNT_COMMANDS === '1'
        ? {
            monitorCommands: (mongo) => {
              const counter = countCommands(mongo);
              process.stdin.on('data', () => {
                process.stdout.write(`${JSON.stringify({ msg: WORKER_COMMAND_COUNTS, ...counter.snapshot() })}\n`);
              });
              // Asking is optional: an open stdin must not keep the process alive once the worker stops.
              (process.stdin as unknown as { unref(): void }).unref();
            },
          }
        : {}),
      // Plain lines, whatever LOG_LEVEL says: the parent process waits for them.
      onReady: () => process.stdout.write(`${JSON.stringify({ msg: WORKER_READY, pid: process.pid })}\n`),
    });
  } finally {
    // maxRSS is in kilobytes.
    process.stdout.write(`${JSON.stringify({ msg: WORKER_EXIT, maxRssKb: process.resourceUsage().maxRSS })}\n`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
