import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import protos from '@temporalio/proto';
import type { Document } from 'mongodb';
import { SEQS_PER_SLOT } from '../../activities/run-plan';
import type { SyncRunRef } from '../../activities/run-context';
import type { Repositories } from '../../db/mongo';
import type { SyncRunDocument } from '../../db/sync-runs-repository';
import { syncRunWorkflowId } from '../../temporal/ids';
import type { FakeLucca, RequestHold } from '../fake-lucca';
import type { CommandHold, CommandMatch, StoreRelay } from './store-relay';

/**
 * The moments of a run a fault is aimed at, and how the rig stops a run at one: a Lucca page held
 * by the fake, or a store command held by the relay (before the store gets it, or once it is done
 * and before the worker hears back). A scenario holds the run there, checks that it is there — the
 * held request or command is the run's own, its document says the phase, Temporal says which
 * activity is running — strikes, lets go, and checks that the fault landed while the step was
 * held. A moment the run never comes to fails the scenario, saying which.
 */
export type PageStep = 'page-read' | 'page-staged' | 'page-planned' | 'plan-stored';
export type MomentSpec =
  | { kind: 'start' | 'verdict' | 'finish'; at?: HoldAt }
  | { kind: PageStep; page: number; at?: HoldAt }
  /**
   * The `batch`th command of the apply writing profiles (`insert`, the default, or `update`: an update or findAndModify) from
   * when the moment is armed (1: the next one).
   */
  | { kind: 'apply'; batch: number; write?: 'insert' | 'update'; at?: HoldAt };
/** A store command held before the store gets it (`request`) or after it did it (`reply`). */
export type HoldAt = 'request' | 'reply';

export const PAGE_STEPS: readonly PageStep[] = ['page-read', 'page-staged', 'page-planned', 'plan-stored'];

/** How long a run may make no progress before a scenario gives up on its moment (the fault restarts take seconds). */
export const DEFAULT_REACH_TIMEOUT_MS = 300_000;

/**
 * The Lucca offset page `page` (from 0) is asked at: each page after the first starts one user
 * early, on the last user already read (`LuccaClient.usersPages`), so page k starts at k × (size − 1).
 */
export const pageOffset = (page: number, pageSize: number) => page * (pageSize - 1);

/** Pages of a read of `users` that bring users (a last, empty page may follow). */
export const pagesOf = (users: number, pageSize: number) =>
  users <= pageSize ? 1 : 1 + Math.ceil((users - pageSize) / (pageSize - 1));

/** What the rig gives a moment to work with. */
export interface MomentStage {
  lucca: FakeLucca;
  relay: StoreRelay;
  repos: Repositories;
  client: Client;
  pageSize: number;
}

/** The activity a run is in at each moment, and the phase its run document says (null: no document yet). */
const ACTIVITY: Record<MomentSpec['kind'], string> = {
  start: 'startSyncRun',
  'page-read': 'fetchLuccaUsers',
  'page-staged': 'fetchLuccaUsers',
  'page-planned': 'fetchLuccaUsers',
  'plan-stored': 'fetchLuccaUsers',
  verdict: 'fetchLuccaUsers',
  apply: 'applySyncPlan',
  finish: 'finishSyncRun',
};

export function momentName(spec: MomentSpec): string {
  const page = 'page' in spec ? `page ${spec.page + 1}` : '';
  const what = {
    start: "the run's start being recorded",
    'page-read': `${page} being read from Lucca`,
    'page-staged': `${page} being staged`,
    'page-planned': `${page} being planned (its changes recorded)`,
    'plan-stored': `${page}'s plan being stored`,
    verdict: "the guard's verdict being recorded",
    apply: `profile ${'write' in spec ? (spec.write ?? 'insert') : 'insert'} ${'batch' in spec ? spec.batch : 1} of the apply (from the moment it was armed)`,
    finish: "the run's end being recorded",
  }[spec.kind];
  if (spec.kind === 'page-read') return `${what}, its response held`;
  return `${what}, ${(spec.at ?? 'request') === 'request' ? 'before the store got it' : 'its answer held after the store did it'}`;
}

/** The store command a moment holds, as the repositories send it. */
function commandOf(spec: MomentSpec, { companyId, runId }: SyncRunRef): CommandMatch {
  const first = (c: Document): Document | undefined => (c.documents as Document[] | undefined)?.[0];
  const runUpdate = (c: Document): Document | undefined => {
    const update = (c.updates as Document[] | undefined)?.[0];
    return (update?.q as Document | undefined)?._id === runId ? (update!.u as Document) : undefined;
  };
  const runSet = (c: Document): Document | undefined => runUpdate(c)?.$set as Document | undefined;
  switch (spec.kind) {
    case 'page-read':
      throw new Error('A page read is held at the fake Lucca, not at the store.');
    case 'start':
      return { command: 'update', collection: 'syncRuns', where: (c) => runUpdate(c)?.$setOnInsert !== undefined };
    case 'page-staged':
      return { command: 'insert', collection: `syncStaging.${runId}`, where: (c) => first(c)?.page === spec.page };
    case 'page-planned':
      return {
        command: 'insert',
        collection: 'syncChanges',
        where: (c) => first(c)?.runId === runId && Math.floor(Number(first(c)?.seq) / SEQS_PER_SLOT) === spec.page,
      };
    case 'plan-stored':
      return { command: 'insert', collection: `syncPlan.${runId}`, where: (c) => first(c)?.slot === spec.page };
    case 'verdict':
      return { command: 'update', collection: 'syncRuns', where: (c) => runSet(c)?.guard !== undefined };
    case 'apply': {
      let writes = 0;
      if (spec.write === 'update') {
        // On FerretDB's SQLite backend the apply writes each profile by `_id` alone, with
        // findAndModify (see db/store-capabilities.ts); elsewhere its updates carry the company.
        const companyOf = (c: Document): unknown =>
          ((c.updates as Document[] | undefined)?.[0]?.q as Document | undefined)?.companyId;
        return {
          command: ['update', 'findAndModify'],
          collection: 'profiles',
          where: (c) => [companyId, undefined].includes(companyOf(c) as string | undefined) && ++writes === spec.batch,
        };
      }
      return {
        command: 'insert',
        collection: 'profiles',
        where: (c) => first(c)?.companyId === companyId && ++writes === spec.batch,
      };
    }
    case 'finish':
      return { command: 'update', collection: 'syncRuns', where: (c) => runSet(c)?.finishedAt !== undefined };
  }
}

/** What the run document must say while the run is held at `spec`; null when it does. */
function runDocumentProblem(spec: MomentSpec, run: SyncRunDocument | null): string | null {
  const at = spec.at ?? 'request';
  const is = (status: SyncRunDocument['status'], phase: SyncRunDocument['progress']['phase']) =>
    run?.status === status && run.progress.phase === phase
      ? null
      : `expected ${status} while ${phase}, the run document says ${run ? `${run.status} while ${run.progress.phase}` : 'nothing (no document)'}`;
  switch (spec.kind) {
    case 'start':
      // A first start is held before its document exists; a retried one finds it.
      return run === null || run.status === 'running' ? null : `expected no document yet, found ${run.status}`;
    case 'verdict':
      // The plan's completion says `planning`; recording the verdict says `applying`.
      return is('running', at === 'request' ? 'planning' : 'applying');
    case 'apply':
      return is('running', 'applying');
    case 'finish':
      // A retried finish (its first attempt's worker died after the store recorded it) finds it done.
      if (at === 'reply' || run?.status !== 'running') {
        return run && run.status !== 'running' && run.progress.phase === 'done' ? null : 'expected it finished';
      }
      return is('running', 'applying');
    default:
      return is('running', 'reading');
  }
}

export interface PendingActivity {
  type: string;
  state: string;
  attempt: number;
  /** The last checkpoint Temporal received (ids, offsets and counts). */
  heartbeat: unknown;
}

/** The activities a workflow waits on, as Temporal describes them. */
export async function pendingActivities(client: Client, workflowId: string): Promise<PendingActivity[]> {
  const described = await client.workflow.getHandle(workflowId).describe();
  return (described.raw.pendingActivities ?? []).map((a) => {
    const details = a.heartbeatDetails?.payloads?.[0];
    return {
      type: a.activityType?.name ?? '',
      state: (protos.temporal.api.enums.v1.PendingActivityState[a.state ?? 0] ?? String(a.state)).replace(
        'PENDING_ACTIVITY_STATE_',
        '',
      ),
      attempt: a.attempt ?? 0,
      heartbeat: details ? defaultPayloadConverter.fromPayload(details) : null,
    };
  });
}

/**
 * A run stopped, or about to be stopped, at one moment. Armed at creation: arm it before the run
 * gets there (before the run starts, for its start), then `reached`, strike, `release`, and
 * `assertStruckWithin` the time the fault began.
 */
export class HeldMoment {
  readonly name: string;
  /** What `reached` saw (the activity and its attempt), for reports. */
  evidence = '';
  private readonly hold: RequestHold | CommandHold;

  constructor(
    private readonly stage: MomentStage,
    readonly run: SyncRunRef,
    readonly spec: MomentSpec,
  ) {
    this.name = momentName(spec);
    this.hold =
      spec.kind === 'page-read'
        ? stage.lucca.holdRequest({ tenant: run.companyId, whenOffset: pageOffset(spec.page, stage.pageSize) })
        : stage.relay.hold(commandOf(spec, run), { at: spec.at ?? 'request' });
  }

  /**
   * Resolves once the run is held at this moment and is where the moment says: the run document's
   * status and phase, and Temporal's pending activity, started on a worker. Fails loudly when the
   * run ends first, or makes no progress (its phase, pages read, profile writes) for `timeoutMs`:
   * the bound is on a stalled run, not on a slow one, so a loaded machine only makes it longer.
   */
  async reached(timeoutMs = DEFAULT_REACH_TIMEOUT_MS): Promise<string> {
    const { repos, client } = this.stage;
    const workflowId = syncRunWorkflowId(this.run.companyId, this.run.runId);
    let deadline = Date.now() + timeoutMs;
    let seen = 'no run document yet';
    while (!this.hold.holding) {
      if (this.hold.endedAt !== null) throw new Error(`the hold on ${this.name} ended before the run came to it`);
      // The store may be coming back from an earlier fault: asked again at the next turn.
      const run = await repos.syncRuns.get(this.run.runId).catch(() => undefined);
      if (run) {
        const now = `${run.status} while ${run.progress.phase}, ${run.progress.pagesRead} pages read, ${run.profileWrites} profile writes`;
        if (now !== seen) deadline = Date.now() + timeoutMs;
        seen = now;
      }
      if (run && run.status !== 'running' && !this.hold.holding && (await this.workflowClosed(workflowId))) {
        throw new Error(`run ${this.run.runId} ended (${run.status}) before reaching ${this.name}`);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `did not reach ${this.name} within ${timeoutMs / 1000} s of the run's last progress (run ${this.run.runId}: ${seen})`,
        );
      }
      await sleep(25);
    }
    const problem = runDocumentProblem(this.spec, await repos.syncRuns.get(this.run.runId));
    if (problem) throw new Error(`held at ${this.name}, but the run is elsewhere: ${problem}`);
    const expected = ACTIVITY[this.spec.kind];
    const pending = await pendingActivities(client, workflowId);
    const activity = pending.find((a) => a.type === expected);
    if (!activity || activity.state !== 'STARTED') {
      const got = pending.map((a) => `${a.type} (${a.state})`).join(', ') || 'none';
      throw new Error(`held at ${this.name}, but Temporal's pending activity is ${got}, not ${expected} started`);
    }
    this.evidence = `${expected} attempt ${activity.attempt}`;
    return this.evidence;
  }

  /** Lets the held step go on (or disarms the moment if the run never came). */
  release(): void {
    this.hold.release();
  }

  /** Cuts the held command's connection to the store (a store moment only); when it was cut. */
  drop(): number {
    if (!('drop' in this.hold)) throw new Error(`${this.name} is a Lucca request: nothing to drop`);
    this.hold.drop();
    return this.hold.endedAt!;
  }

  /**
   * Asserts that a fault begun at `at` struck while the step was held: after the run came to the
   * moment, before it was let go (or lost, when the fault took its connection down). A fault moved
   * before or after the moment fails here, whatever the run did afterwards.
   */
  assertStruckWithin(fault: { what: string; at: number }): void {
    const { heldAt, endedAt } = this.hold;
    if (heldAt === null || fault.at < heldAt) {
      throw new Error(`${fault.what} landed before ${this.name}: the run was not held there yet`);
    }
    if (endedAt !== null && fault.at > endedAt) {
      throw new Error(
        `${fault.what} landed ${fault.at - endedAt} ms after the run was let go from ${this.name} (held ${endedAt - heldAt} ms)`,
      );
    }
  }

  private async workflowClosed(workflowId: string): Promise<boolean> {
    const described = await this.stage.client.workflow
      .getHandle(workflowId)
      .describe()
      .catch(() => null);
    return described !== null && described.status.name !== 'RUNNING';
  }
}
