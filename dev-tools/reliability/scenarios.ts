import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { PAGES_AHEAD } from '../../activities/fetch-lucca-users';
import type { SyncRunRef } from '../../activities/run-context';
import { isValidDateOnly, isValidEmail, mapLuccaUser } from '../../domain/map-lucca-user';
import type { FaultRule, LuccaRawUser } from '../fake-lucca';
import { PAGE_STEPS, pageOffset, type HeldMoment, type HoldAt, type MomentSpec } from './moments';
import { countsFromChanges, duplicateLinks, profileViews, type Rig, type RunOutcome } from './rig';

/**
 * The scenarios of the reliability suite, sized by the caller: the test runs them small, chaos big.
 * Each one holds its run at the moment it aims at, checks the run is there, strikes, lets go, and
 * checks that the strike landed while the run was held (see `moments.ts`); it returns the run's
 * outcome and where each strike landed.
 */
export interface Struck {
  outcome: RunOutcome;
  landed: string[];
}

export const randomInt = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));
const pick = <T>(items: readonly T[]): T => items[randomInt(0, items.length - 1)]!;
const holdAt = (): HoldAt => pick(['request', 'reply'] as const);
function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(0, i);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Slows every page of a tenant, so that a multi-page read lasts long enough to be interrupted. */
export function slowPages(rig: Rig, companyId: string, delayMs: number): void {
  rig.lucca.addFault({ tenant: companyId, kind: 'slow', delayMs, times: Infinity });
}

/**
 * Pages between two page moments when the second may be a read: the read runs up to
 * `PAGES_AHEAD` + 1 pages ahead of the plan, and a retry resumes the read where it was, so a read
 * moment closer behind a planning one may already be past.
 */
const PAGE_GAP = PAGES_AHEAD + 2;

/**
 * `count` moments inside pages (read, staged, planned, plan stored; held before or after the
 * store), each `PAGE_GAP` to `maxApart` pages after the one before, in a read of `pages` pages
 * (the last one, possibly short or empty, is left out).
 */
export function pageMoments(count: number, pages: number, maxApart: number): MomentSpec[] {
  const last = pages - 2;
  if (count > 0 && 1 + (count - 1) * PAGE_GAP > last) {
    throw new Error(`a read of ${pages} pages cannot hold ${count} page moments ${PAGE_GAP} pages apart`);
  }
  const specs: MomentSpec[] = [];
  let page = 0;
  for (let i = 0; i < count; i++) {
    const lo = i === 0 ? 1 : PAGE_GAP;
    // Room left for the moments still to come, each PAGE_GAP further.
    const hi = Math.min(Math.max(lo, maxApart), last - page - (count - 1 - i) * PAGE_GAP);
    page += randomInt(lo, hi);
    specs.push({ kind: pick(PAGE_STEPS), page, at: holdAt() });
  }
  return specs;
}

/**
 * `count` moments drawn over the whole run — its start, any step of a page, the guard's verdict,
 * a write of the apply, its end — in the order the run comes to them.
 */
export function randomMoments(count: number, pages: number): MomentSpec[] {
  const kinds = ['start', 'page', 'page', 'page', 'verdict', 'apply', 'apply', 'finish'] as const;
  const drawn = Array.from({ length: count }, () => pick(kinds));
  const pageCount = drawn.filter((k) => k === 'page').length;
  // Distinct pages, PAGE_GAP apart, from a random start.
  const slots = Math.floor((pages - 2) / PAGE_GAP);
  if (pageCount > slots) throw new Error(`a read of ${pages} pages cannot hold ${pageCount} page moments`);
  const shift = randomInt(1, PAGE_GAP);
  const free = Array.from({ length: slots }, (_, i) => i).filter((i) => shift + i * PAGE_GAP <= pages - 2);
  const pagesDrawn = shuffle(free)
    .slice(0, pageCount)
    .map((slot) => shift + slot * PAGE_GAP);
  const rank = { start: 0, page: 1, verdict: 2, apply: 3, finish: 4 } as const;
  return drawn
    .map((kind, i): { order: number[]; spec: MomentSpec } => {
      const at = holdAt();
      switch (kind) {
        case 'page': {
          const page = pagesDrawn.pop()!;
          return { order: [rank.page, page], spec: { kind: pick(PAGE_STEPS), page, at } };
        }
        case 'apply':
          // Each apply moment counts inserts from when it is armed: a few chunks further each time.
          return { order: [rank.apply, i], spec: { kind: 'apply', batch: randomInt(1, 3), at } };
        default:
          return { order: [rank[kind], i], spec: { kind, at } };
      }
    })
    .sort((a, b) => a.order[0]! - b.order[0]! || a.order[1]! - b.order[1]!)
    .map((d) => d.spec);
}

/**
 * Holds `run` at `spec`, checks that it is there, strikes, lets go, and checks that the strike —
 * at the time the struck component records (the signal sent, the connection cut) — came while the
 * run was held. Returns where it landed.
 */
async function strikeAt(
  rig: Rig,
  run: SyncRunRef,
  spec: MomentSpec,
  fault: { what: string; start?: boolean },
  strike: (moment: HeldMoment) => Promise<number>,
): Promise<string> {
  const moment = rig.hold(run, spec);
  let at: number;
  try {
    if (fault.start) await rig.startRun(run);
    await moment.reached();
    at = await strike(moment);
  } finally {
    moment.release();
  }
  moment.assertStruckWithin({ what: fault.what, at });
  return `${moment.name} [${moment.evidence}]`;
}

/** SIGKILLs the worker at each of `moments` of one run, starting a fresh worker after each. */
export async function killWorkerAt(rig: Rig, companyId: string, moments: MomentSpec[]): Promise<Struck> {
  const run = rig.newRun(companyId);
  const landed: string[] = [];
  for (const [i, spec] of moments.entries()) {
    const worker = await rig.ensureWorker();
    const kill = async () => {
      await worker.kill();
      return worker.killedAt!;
    };
    landed.push(await strikeAt(rig, run, spec, { what: 'the worker SIGKILL', start: i === 0 }, kill));
  }
  return { outcome: await rig.outcome(run), landed };
}

/**
 * SIGKILLs one of the private servers while a run is held at `spec`, lets the held step go on
 * (or fail) with the server down, and starts the server again on its files after `downMs`.
 */
export async function restartAt(
  rig: Rig,
  companyId: string,
  service: 'temporal' | 'ferretdb',
  spec: MomentSpec,
  downMs: number,
): Promise<Struck> {
  const run = rig.newRun(companyId);
  await rig.ensureWorker();
  const server = rig.stack[service];
  const landed = await strikeAt(rig, run, spec, { what: `the ${service} SIGKILL`, start: true }, async (moment) => {
    await server.stop('SIGKILL');
    moment.release();
    await sleep(downMs);
    await server.start();
    return server.signalledAt!;
  });
  return { outcome: await rig.outcome(run), landed: [landed] };
}

/** Cuts the worker's connection to the store while a run is held at a store moment. */
export async function dropStoreConnectionAt(rig: Rig, companyId: string, spec: MomentSpec): Promise<Struck> {
  const run = rig.newRun(companyId);
  await rig.ensureWorker();
  const landed = await strikeAt(rig, run, spec, { what: 'the cut', start: true }, async (moment) => moment.drop());
  return { outcome: await rig.outcome(run), landed: [landed] };
}

/** The Lucca faults a read must ride out, one each (the client retries them, or Temporal does). */
const LUCCA_FAULTS: { label: string; rule: Omit<FaultRule, 'tenant' | 'whenOffset'> }[] = [
  { label: '429 with Retry-After: 1', rule: { kind: 'status', status: 429, retryAfter: '1' } },
  { label: '500', rule: { kind: 'status', status: 500 } },
  { label: '503', rule: { kind: 'status', status: 503 } },
  { label: '408 after 500 ms', rule: { kind: 'status', status: 408, delayMs: 500 } },
  { label: 'connection reset', rule: { kind: 'reset' } },
  { label: 'truncated body', rule: { kind: 'truncate' } },
  { label: 'page 3 s late', rule: { kind: 'slow', delayMs: 3_000 } },
];

/**
 * One run whose read meets every Lucca fault once, each at a page of its own drawn at random
 * (every page is also `pageDelayMs` slow). After the run, each fault must have been served: one
 * the read never came to fails the scenario.
 */
export async function luccaFaultsAtPages(
  rig: Rig,
  companyId: string,
  pages: number,
  pageDelayMs: number,
): Promise<Struck> {
  const candidates = shuffle(Array.from({ length: pages - 2 }, (_, i) => i + 1));
  if (candidates.length < LUCCA_FAULTS.length) throw new Error(`a read of ${pages} pages is too short for the faults`);
  const armed = LUCCA_FAULTS.map((fault, i) => {
    const page = candidates[i]!;
    // Added before the slow pages' rule: the first matching rule answers.
    const id = rig.lucca.addFault({ ...fault.rule, tenant: companyId, whenOffset: pageOffset(page, rig.pageSize) });
    return { ...fault, page, id };
  });
  slowPages(rig, companyId, pageDelayMs);
  await rig.ensureWorker();
  const run = rig.newRun(companyId);
  await rig.startRun(run);
  const outcome = await rig.outcome(run);
  const left = new Set(rig.lucca.listFaults().map((f) => f.id));
  const missed = armed.filter((f) => left.has(f.id));
  if (missed.length > 0) {
    throw new Error(`the read never came to ${missed.map((f) => `the ${f.label} at page ${f.page + 1}`).join(', ')}`);
  }
  return {
    outcome,
    landed: armed.sort((a, b) => a.page - b.page).map((f) => `${f.label} at page ${f.page + 1}`),
  };
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
  const { changes } = got;
  assert.deepEqual(changes, clean.changes, 'one change per user, as in a clean run');
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
