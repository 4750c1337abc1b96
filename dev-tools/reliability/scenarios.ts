import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { isValidDateOnly, isValidEmail, mapLuccaUser } from '../../domain/map-lucca-user';
import type { syncRunWorkflow } from '../../workflows/sync-run';
import type { LuccaRawUser } from '../fake-lucca';
import {
  changeActionCounts,
  countsFromChanges,
  duplicateLinks,
  profileViews,
  type Rig,
  type RigCompany,
  type RunOutcome,
} from './rig';

/** The scenarios of the reliability suite, sized by the caller: the test runs them small, chaos big. */
export const runIdOf = (handle: WorkflowHandle<typeof syncRunWorkflow>): string => handle.workflowId.split(':').at(-1)!;

export const randomInt = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));

/** Slows every page of a tenant, so that a multi-page read lasts long enough to be interrupted. */
export function slowPages(rig: Rig, company: RigCompany, delayMs: number): void {
  rig.lucca.addFault({ tenant: company.companyId, kind: 'slow', delayMs, times: Infinity });
}

/**
 * SIGKILLs the worker `kills` times during one run — each time a few pages further into the read,
 * the last one possibly while planning — starting a fresh worker after each kill. Returns where
 * each kill landed (`phase@pagesRead`).
 */
export async function killWorkerRepeatedly(rig: Rig, runId: string, kills: number, maxPagesBetween = 4) {
  const landed: string[] = [];
  let pages = 0;
  for (let i = 0; i < kills; i++) {
    await rig.ensureWorker();
    const target = pages + randomInt(1, maxPagesBetween);
    await rig.waitForProgress(
      runId,
      (p, status) => status !== 'running' || p.phase !== 'reading' || p.pagesRead >= target,
    );
    const run = await rig.repos.syncRuns.get(runId);
    if (!run || run.status !== 'running') break;
    // Land anywhere inside the next page: its HTTP read, its staging write or its heartbeat.
    await sleep(randomInt(0, 200));
    const at = await rig.repos.syncRuns.get(runId);
    if (!at || at.status !== 'running') break;
    await rig.worker!.kill();
    landed.push(`${at.progress.phase}@${at.progress.pagesRead}`);
    pages = at.progress.pagesRead;
  }
  return landed;
}

/**
 * SIGKILLs the worker `kills` times at moments drawn uniformly up to `maxDelayMs` after each fresh
 * worker is ready — whatever the run is doing then, finishing activities included.
 */
export async function killAtRandomMoments(rig: Rig, runId: string, kills: number, maxDelayMs: number) {
  const landed: string[] = [];
  for (let i = 0; i < kills; i++) {
    await rig.ensureWorker();
    await sleep(randomInt(300, maxDelayMs));
    const at = await rig.repos.syncRuns.get(runId);
    if (!at || at.status !== 'running') break;
    await rig.worker!.kill();
    landed.push(`${at.progress.phase}@${at.progress.pagesRead}`);
  }
  return landed;
}

/** Stops one of the private servers once the run gets there (default: `afterPages` pages read), and restarts it. */
export async function restartMidRun(
  rig: Rig,
  runId: string,
  service: 'temporal' | 'ferretdb',
  opts: { afterPages: number; downMs: number; phase?: 'reading' | 'planning' | 'applying' },
): Promise<void> {
  await rig.waitForProgress(
    runId,
    (p, status) => status !== 'running' || (opts.phase ? p.phase === opts.phase : p.pagesRead >= opts.afterPages),
  );
  const run = await rig.repos.syncRuns.get(runId);
  assert.equal(run?.status, 'running', `the run was still running when ${service} was stopped`);
  await rig.stack[service].stop('SIGKILL');
  await sleep(opts.downMs);
  await rig.stack[service].start();
}

/** The run ended as a clean run of the same data did: same profiles, no duplicates, one consistent report. */
export async function assertSameAsClean(rig: Rig, got: RunOutcome, clean: RunOutcome): Promise<void> {
  assert.equal(got.result.status, 'succeeded', JSON.stringify(got.result.error));
  assert.deepEqual(profileViews(got.profiles), profileViews(clean.profiles), 'the same profiles as a clean run');
  assert.deepEqual(duplicateLinks(got.profiles), [], 'no Lucca user linked to two profiles');
  assert.equal(got.profiles.length, clean.profiles.length, 'no duplicate profile');
  assert.deepEqual(got.run.counts, clean.run.counts, 'the report counts what a clean run counts');
  assert.equal(got.result.profileWrites, clean.result.profileWrites, 'profile writes are counted once');
  assert.equal(got.run.profileWrites, got.result.profileWrites, 'the report and the workflow result agree');
  const changes = await changeActionCounts(rig, got.result.runId);
  assert.deepEqual(
    changes,
    await changeActionCounts(rig, clean.result.runId),
    'one change per user, as in a clean run',
  );
  const { seen: _seen, unchanged: _unchanged, ...counted } = got.run.counts ?? { seen: 0, unchanged: 0 };
  assert.deepEqual(countsFromChanges(changes), counted, "the report's changes add up to its counts");
}

/**
 * One sync of hostile records: the run succeeds; every record the mapper rejects is reported as a
 * skip with its reasons; every usable one became a profile or is reported with a reason; what was
 * stored is clean; and a second run over the same data writes nothing.
 */
export async function assertHostileRecordsHandled(rig: Rig, users: LuccaRawUser[]): Promise<void> {
  const company = await rig.addCompany(users);
  const first = await rig.sync(company.companyId);
  assert.equal(first.result.status, 'succeeded', JSON.stringify(first.result.error));
  assert.equal(first.run.counts?.seen, users.length, 'every record was read');

  const changes = await rig.store.syncChanges.find({ runId: first.result.runId }).toArray();
  const byUser = new Map(changes.map((c) => [c.luccaUserId, c]));
  const linked = new Map(first.profiles.map((p) => [p.lucca?.userId, p]));
  for (const raw of users) {
    const mapped = mapLuccaUser(raw);
    const change = byUser.get(raw.id);
    const where = `Lucca user ${raw.id}`;
    if (mapped.kind === 'skip') {
      assert.equal(change?.action, 'skip', `${where} is reported as skipped`);
      assert.deepEqual(
        change.reasons.map((r) => r.code),
        mapped.reasons.map((r) => r.code),
        `${where} carries its reasons`,
      );
      assert.ok(!linked.has(raw.id), `${where} has no profile`);
    } else if (!linked.has(raw.id)) {
      assert.ok(change && ['skip', 'conflict'].includes(change.action), `${where} is synced or reported`);
      assert.ok(change.reasons.length > 0, `${where} is reported with a reason`);
    }
  }
  for (const p of first.profiles) {
    assert.ok(p.email !== null && isValidEmail(p.email), `stored email is valid: ${JSON.stringify(p.email)}`);
    for (const field of ['birthDate', 'contractStart', 'contractEnd'] as const) {
      const value = p[field];
      assert.ok(value === null || isValidDateOnly(value), `stored ${field} is a real date: ${JSON.stringify(value)}`);
    }
    for (const field of ['firstName', 'lastName'] as const) {
      const value = p[field];
      assert.ok(value === null || !/[\p{Cc}]/u.test(value), `stored ${field} has no control character`);
    }
  }

  const second = await rig.sync(company.companyId);
  assert.equal(second.result.status, 'succeeded');
  assert.equal(second.result.profileWrites, 0, 'a re-run over the same hostile data writes nothing');
}
