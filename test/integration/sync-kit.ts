import { setTimeout as sleep } from 'node:timers/promises';
import { ObjectId } from 'mongodb';
import type { WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import type { ActivityDeps } from '../../activities';
import type { ProfileDocument } from '../../db/profiles-repository';
import type { SyncChangeDocument } from '../../db/sync-changes-repository';
import { SYNCED_FIELDS } from '../../domain/types';
import { createSyncWorker } from '../../workers/worker';
import { syncRunWorkflow } from '../../workflows';
import { runResult } from '../../temporal/client';
import { type SyncRunInput, type SyncRunResult, type SyncTuning } from '../../workflows/messages';
import { syncRunWorkflowId } from '../../temporal/ids';
import type { LuccaRawUser } from '../../dev-tools/fake-lucca';
import { activityDeps, addCompany, NAMESPACE, newApiKey, uniqueSuffix, workflowBundle, type Stack } from './helpers';

/**
 * What the sync-scenario files share: hand-made Lucca users, a company per test on its own fake
 * tenant, a run started straight on `syncRunWorkflow`, and profile views to compare.
 */
export const TODAY = '2026-06-15';
export const FAST_RETRIES: SyncTuning = {
  retryInitialIntervalMs: 100,
  retryMaximumIntervalMs: 500,
  heartbeatTimeoutMs: 10_000,
};

/** The worker's idea of "now", movable by a test together with the fake tenant's clock. */
export interface TestClock {
  today: string;
}

const startedAt = Date.now();

/**
 * Noon UTC of the clock's day, plus the time elapsed since the test process started: it stays the
 * same calendar day in Europe/Paris (the companies' time zone) while `updatedAt` still moves on.
 */
export const clockDeps = (clock: TestClock): Pick<ActivityDeps, 'now'> => ({
  now: () => new Date(Date.parse(`${clock.today}T12:00:00Z`) + (Date.now() - startedAt)),
});

const pad = (n: number) => String(n).padStart(2, '0');
export const luccaDate = (date: string) => `${date}T00:00:00`;

/** An ordinary employee on an open contract; `overrides` plants whatever a scenario needs. */
export function luccaUser(id: number, overrides: Partial<LuccaRawUser> = {}): LuccaRawUser {
  return {
    id,
    firstName: `Camille${id}`,
    lastName: `Lefèvre${id}`,
    mail: `camille${id}.lefevre@acme.example`,
    birthDate: luccaDate(`19${70 + (id % 30)}-${pad((id % 12) + 1)}-${pad((id % 28) + 1)}`),
    dtContractStart: luccaDate('2020-01-06'),
    dtContractEnd: null,
    modifiedAt: '2026-01-10T09:00:00.000',
    ...overrides,
  };
}

export const staff = (count: number, startId = 1): LuccaRawUser[] =>
  Array.from({ length: count }, (_, i) => luccaUser(startId + i));

/** Polls a condition (never a fixed sleep): resolves with the first defined value. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(50);
  }
}

export interface RunningWorker {
  worker: Worker;
  stop(): Promise<void>;
}

/** A worker on its own task queue with its own activity dependencies (page size, clock…). */
export async function startWorker(
  stack: Stack,
  taskQueue: string,
  overrides: Partial<ActivityDeps> = {},
): Promise<RunningWorker> {
  const worker = await createSyncWorker({
    connection: stack.nativeConnection,
    namespace: NAMESPACE,
    taskQueue,
    deps: activityDeps(stack, overrides),
    workflowBundle: await workflowBundle(),
  });
  const running = worker.run();
  return {
    worker,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}

export interface TestCompany {
  companyId: string;
  tenant: string;
  apiKey: string;
}

/** A fresh company on its own fake Lucca tenant (rate limit off, fixed clock). */
export async function addTestCompany(
  stack: Stack,
  users: LuccaRawUser[],
  opts: { today?: string; apiKey?: string } = {},
): Promise<TestCompany> {
  const companyId = `co-${uniqueSuffix()}`;
  const apiKey = opts.apiKey ?? newApiKey();
  stack.lucca.addTenant(companyId, {
    users,
    apiKeys: [{ key: apiKey }],
    today: opts.today ?? TODAY,
    rateLimit: false,
  });
  await addCompany(stack, { companyId, tenant: companyId, apiKey });
  return { companyId, tenant: companyId, apiKey };
}

/** Starts one sync straight on `syncRunWorkflow` (a manual run with fast retries, unless `input` says otherwise). */
export function startSync(
  stack: Stack,
  taskQueue: string,
  companyId: string,
  input: Partial<SyncRunInput> = {},
): Promise<WorkflowHandle<typeof syncRunWorkflow>> {
  const runId = input.runId ?? `run-${uniqueSuffix()}`;
  return stack.client.workflow.start(syncRunWorkflow, {
    taskQueue,
    workflowId: syncRunWorkflowId(companyId, runId),
    args: [
      {
        companyId,
        runId,
        trigger: 'manual',
        requestedBy: 'test',
        dryRun: false,
        tuning: FAST_RETRIES,
        ...input,
      },
    ],
  });
}

/** A run's input that applies blocked run `blocked` anyway (what "Apply anyway" sends). */
export const anyway = (blocked: { runId: string }): Partial<SyncRunInput> => ({
  override: { blockedRunId: blocked.runId },
});

/** Runs one sync straight on `syncRunWorkflow` and waits for its result. */
export async function runSync(
  stack: Stack,
  taskQueue: string,
  companyId: string,
  input: Partial<SyncRunInput> = {},
): Promise<SyncRunResult> {
  return runResult(await startSync(stack, taskQueue, companyId, input));
}

export const profilesOf = (stack: Stack, companyId: string): Promise<ProfileDocument[]> =>
  stack.store.profiles.find({ companyId }).toArray();

export async function linkedProfile(stack: Stack, companyId: string, luccaUserId: number): Promise<ProfileDocument> {
  const profile = await stack.store.profiles.findOne({ companyId, 'lucca.userId': luccaUserId });
  if (!profile) throw new Error(`no profile linked to Lucca user ${luccaUserId} in ${companyId}`);
  return profile;
}

export const changesOf = (stack: Stack, runId: string): Promise<SyncChangeDocument[]> =>
  stack.store.syncChanges.find({ runId }).sort({ seq: 1 }).toArray();

export const changeFor = async (stack: Stack, runId: string, luccaUserId: number) =>
  (await changesOf(stack, runId)).filter((c) => c.luccaUserId === luccaUserId);

/** What a profile says about its employee: Lucca id, the six synced fields and status. */
export type ProfileView = Record<string, unknown>;

export function profileViews(profiles: ProfileDocument[]): ProfileView[] {
  return profiles
    .map((p) => {
      const view: ProfileView = { luccaUserId: p.lucca?.userId ?? null, status: p.status };
      for (const field of SYNCED_FIELDS) view[field] = p[field];
      return view;
    })
    .sort((a, b) => Number(a.luccaUserId) - Number(b.luccaUserId));
}

/** profile id → updatedAt in ms, to prove that a run wrote nothing. */
export const updatedStamps = (profiles: ProfileDocument[]): Map<string, number> =>
  new Map(profiles.map((p) => [p._id.toHexString(), p.updatedAt.getTime()]));

/**
 * A profile the platform made on its own (CSV import, self-signup): unlinked, active, with the
 * given names and email. Inserted past the repositories, as the platform writes it; its id returned.
 */
export async function insertPlatformProfile(
  stack: Stack,
  companyId: string,
  person: { firstName: string; lastName: string | null; email: string },
): Promise<ObjectId> {
  const profile = platformProfile(companyId, person);
  await stack.store.profiles.insertOne(profile);
  return profile._id;
}

/** A profile as the platform makes one on its own: unlinked, active, names and email only. */
export function platformProfile(
  companyId: string,
  person: { firstName: string; lastName: string | null; email: string },
  now = new Date(),
): ProfileDocument {
  return {
    _id: new ObjectId(),
    companyId,
    ...person,
    birthDate: null,
    contractStart: null,
    contractEnd: null,
    status: 'active',
    createdAt: now,
    updatedAt: now,
  };
}
