import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import type { SyncRunRef } from '../../activities/run-context';
import { DEFAULT_SECRET_ID } from '../../config/env';
import { apiKeyHint, encryptApiKey, keyringOf } from '../../db/api-key-cipher';
import {
  connectMongo,
  platformCollections,
  repositories,
  type PlatformCollections,
  type Repositories,
} from '../../db/mongo';
import type { CompanyScope } from '../../db/companies-repository';
import type { ProfileDocument } from '../../db/profiles-repository';
import type { SyncRunDocument } from '../../db/sync-runs-repository';
import { SYNCED_FIELDS, type SyncCounts } from '../../domain/types';
import { syncRunWorkflow } from '../../workflows/sync-run';
import { runResult } from '../../temporal/client';
import { syncRunWorkflowId } from '../../temporal/ids';
import type { SyncRunResult, SyncTuning } from '../../workflows/messages';
import { ChildWorker, writeWorkflowBundle, type ChildWorkerOptions } from '../child-worker/child-worker';
import { startPrivateStack, type PrivateStack } from '../stack/private-stack';
import { startFakeLucca, type FakeLucca, type LuccaRawUser } from '../fake-lucca';
import { HeldMoment, type MomentSpec } from './moments';
import { StoreRelay } from './store-relay';
import type { MongoClient } from 'mongodb';
import { randomBytes } from 'node:crypto';

/**
 * The reliability rig, shared by `test/integration/reliability.test.ts` (small sizes) and
 * `dev-tools/reliability/chaos.ts` (bigger, longer): a private Temporal dev server and FerretDB it may stop and
 * restart, an in-process fake Lucca, and sync workers in child processes it may SIGKILL, which
 * reach the store through a relay that can hold any of their commands. A scenario holds a run at
 * the moment it aims at (`hold`, see `moments.ts`) before it strikes. Every line the workers log
 * is kept for the secret scan.
 */
export const RIG_SECRET = 'reliability-rig-secret-0123456789abcdef';
/** What a worker given LUCCA_SYNC_SECRET=RIG_SECRET holds. */
export const RIG_KEYRING = keyringOf([{ id: DEFAULT_SECRET_ID, secret: RIG_SECRET }]);
/**
 * Quick retries, and a dead worker's activity retried after 8 s without a heartbeat. The sync
 * heartbeats at every page and at least every 5 s, so 8 s never fires on a live worker.
 */
export const RIG_TUNING: SyncTuning = {
  retryInitialIntervalMs: 200,
  retryMaximumIntervalMs: 1_000,
  heartbeatTimeoutMs: 8_000,
  readMaximumAttempts: 50,
};

/**
 * How long a worker process may take to start (compile its code, load the bundle, connect). At
 * load 20–25 on the 2 shared cores, `npm run chaos` saw two starts pass the child worker's 60 s
 * (2026-12-03 07:40); a start that takes this long is stuck, not slow.
 */
const WORKER_READY_WITHIN_MS = 180_000;

export const suffix = () => randomBytes(4).toString('hex');
export const newApiKey = () =>
  [8, 4, 4, 4, 12].map((n) => randomBytes(n).toString('hex').slice(0, n).toUpperCase()).join('-');

export interface RigCompany {
  companyId: string;
  apiKey: string;
  users: LuccaRawUser[];
}

export interface RunOutcome {
  result: SyncRunResult;
  run: SyncRunDocument;
  profiles: ProfileDocument[];
  /** The report's changes, counted by action. */
  changes: Record<string, number>;
}

export class Rig {
  readonly logLines: string[] = [];
  readonly companies: RigCompany[] = [];
  worker: ChildWorker | null = null;

  private constructor(
    readonly dir: string,
    readonly stack: PrivateStack,
    readonly lucca: FakeLucca,
    /** What the workers reach the store through (the rig's own client goes straight to it). */
    readonly relay: StoreRelay,
    readonly mongo: MongoClient,
    public repos: Repositories,
    /** The collections past the repositories, to check what the store holds. */
    public store: PlatformCollections,
    /** The database the rig and its workers use now (see `useFreshDatabase`). */
    public dbName: string,
    readonly connection: Connection,
    readonly client: Client,
    readonly bundlePath: string,
    readonly taskQueue: string,
    readonly pageSize: number,
  ) {}

  static async open(opts: { pageSize: number }): Promise<Rig> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lucca-sync-rig-'));
    const [stack, bundlePath] = await Promise.all([
      startPrivateStack(dir),
      writeWorkflowBundle(path.join(dir, 'workflows.js')),
    ]);
    const dbName = `reliability_${suffix()}`;
    const { client: mongo, db } = await connectMongo(stack.mongoUri, dbName);
    const connection = await Connection.connect({ address: stack.temporalAddress });
    const client = new Client({ connection, namespace: 'default' });
    const lucca = await startFakeLucca({ port: 0 });
    const relay = await StoreRelay.open(stack.mongoUri);
    return new Rig(
      dir,
      stack,
      lucca,
      relay,
      mongo,
      repositories(db),
      platformCollections(db),
      dbName,
      connection,
      client,
      bundlePath,
      `reliability-${suffix()}`,
      opts.pageSize,
    );
  }

  async startWorker(overrides: { secret?: string; logLevel?: string } = {}): Promise<ChildWorker> {
    this.worker = await this.launchWorker(overrides);
    return this.worker;
  }

  /**
   * A worker on the rig's stack and database that the rig does not keep as its own (`worker`):
   * the fleet runs several side by side and replaces them itself.
   */
  launchWorker(
    overrides: Partial<
      Pick<ChildWorkerOptions, 'secret' | 'logLevel' | 'rateLimit' | 'metricsAddress' | 'shutdownGraceMs'>
    > = {},
  ): Promise<ChildWorker> {
    return ChildWorker.start(
      {
        temporalAddress: this.stack.temporalAddress,
        mongoUri: this.relay.uri,
        mongoDb: this.dbName,
        taskQueue: this.taskQueue,
        bundlePath: this.bundlePath,
        pageSize: this.pageSize,
        onLine: (line) => this.logLines.push(line),
        ...overrides,
        secret: overrides.secret ?? RIG_SECRET,
        logLevel: overrides.logLevel ?? 'debug',
      },
      WORKER_READY_WITHIN_MS,
    );
  }

  async ensureWorker(): Promise<ChildWorker> {
    return this.worker?.alive ? this.worker : this.startWorker();
  }

  /**
   * A company on its own fake tenant (rate limit off), onboarded with its key encrypted; or, given
   * `on`, on a tenant the caller made (with `apiKey` among its keys), scoped to part of it.
   */
  async addCompany(
    users: LuccaRawUser[],
    on?: { tenant: string; apiKey: string; scope: CompanyScope },
  ): Promise<RigCompany> {
    const companyId = `co-${suffix()}`;
    const apiKey = on?.apiKey ?? newApiKey();
    const tenant = on?.tenant ?? companyId;
    if (!on) this.lucca.addTenant(companyId, { users, apiKeys: [{ key: apiKey }], rateLimit: false });
    await this.repos.companies.upsert({
      id: companyId,
      name: `Company ${companyId}`,
      timezone: 'Europe/Paris',
      baseUrl: this.lucca.tenantUrl(tenant),
      ...(on ? { scope: on.scope } : {}),
      encryptedApiKey: encryptApiKey(RIG_KEYRING, { companyId, baseUrl: this.lucca.tenantUrl(tenant) }, apiKey),
      connectionId: randomUUID(),
      apiKeyHint: apiKeyHint(apiKey),
      every: '24h',
      now: new Date(),
    });
    const company = { companyId, apiKey, users };
    this.companies.push(company);
    return company;
  }

  /** A run's ids, before it starts: a moment of it can be armed first. */
  newRun(companyId: string): SyncRunRef {
    return { companyId, runId: `run-${suffix()}` };
  }

  /** Starts `run` on the rig's tuning, or on `tuning` (the fleet's: production's heartbeat timeout). */
  startRun(
    { companyId, runId }: SyncRunRef,
    tuning: SyncTuning = RIG_TUNING,
  ): Promise<WorkflowHandle<typeof syncRunWorkflow>> {
    return this.client.workflow.start(syncRunWorkflow, {
      taskQueue: this.taskQueue,
      workflowId: syncRunWorkflowId(companyId, runId),
      args: [
        {
          companyId,
          runId,
          trigger: 'manual',
          requestedBy: 'reliability',
          dryRun: false,
          tuning,
        },
      ],
    });
  }

  /** Arms a hold of `run` at `spec` (see `HeldMoment`). */
  hold(run: SyncRunRef, spec: MomentSpec): HeldMoment {
    return new HeldMoment(this, run, spec);
  }

  /** Waits for a run while making sure a worker is up (a killed one is replaced). */
  async outcome(run: SyncRunRef): Promise<RunOutcome> {
    await this.ensureWorker();
    return this.collect(run);
  }

  /** Waits for a run and gathers what it left, whoever runs it. */
  async collect({ companyId, runId }: SyncRunRef): Promise<RunOutcome> {
    const result = await runResult(this.client.workflow.getHandle(syncRunWorkflowId(companyId, runId)));
    const run = await this.repos.syncRuns.get(result.runId);
    if (!run) throw new Error(`no syncRuns document for ${result.runId}`);
    return {
      result,
      run,
      profiles: await this.profiles(companyId),
      changes: await changeActionCounts(this, result.runId),
    };
  }

  async sync(companyId: string): Promise<RunOutcome> {
    await this.ensureWorker();
    const run = this.newRun(companyId);
    await this.startRun(run);
    return this.outcome(run);
  }

  profiles(companyId: string): Promise<ProfileDocument[]> {
    return this.store.profiles.find({ companyId }).toArray();
  }

  /**
   * Moves the rig and its next worker (the current one is stopped) to a new database, and drops
   * the one it leaves unless `keepPrevious`: chaos runs each scenario in a database of its own, as
   * FerretDB scans a whole collection per query, so many 20,000-employee companies in one database
   * would slow every later run (and deleting them costs minutes; dropping a database does not).
   */
  async useFreshDatabase(opts: { keepPrevious: boolean }): Promise<void> {
    await this.worker?.stop(20_000);
    this.worker = null;
    const previous = this.dbName;
    this.dbName = `reliability_${suffix()}`;
    const db = this.mongo.db(this.dbName);
    this.repos = repositories(db);
    this.store = platformCollections(db);
    if (!opts.keepPrevious) await this.mongo.db(previous).dropDatabase();
  }

  /** Every event of every workflow this rig's Temporal server ran, as JSON text. */
  async allHistories(): Promise<string[]> {
    const texts: string[] = [];
    for await (const wf of this.client.workflow.list()) {
      const history = await this.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      texts.push(JSON.stringify(history));
    }
    return texts;
  }

  async close(): Promise<void> {
    await this.worker?.stop(20_000).catch(() => undefined);
    await this.lucca.close().catch(() => undefined);
    await this.relay.close().catch(() => undefined);
    await this.mongo
      .db(this.dbName)
      .dropDatabase()
      .catch(() => undefined);
    await this.mongo.close().catch(() => undefined);
    await this.connection.close().catch(() => undefined);
    await this.stack.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** What a profile says about its employee, comparable across companies and runs. */
export function profileViews(profiles: ProfileDocument[]): Record<string, unknown>[] {
  return profiles
    .map((p) => {
      const view: Record<string, unknown> = { luccaUserId: p.lucca?.userId ?? null, status: p.status };
      for (const field of SYNCED_FIELDS) view[field] = p[field];
      return view;
    })
    .sort((a, b) => Number(a.luccaUserId) - Number(b.luccaUserId));
}

/** Lucca ids that more than one profile of the company is linked to. */
export function duplicateLinks(profiles: ProfileDocument[]): number[] {
  const seen = new Map<number, number>();
  for (const p of profiles) if (p.lucca) seen.set(p.lucca.userId, (seen.get(p.lucca.userId) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([id]) => id);
}

/** The report's body, counted by action, to compare with the run's counts. */
export async function changeActionCounts(rig: Rig, runId: string): Promise<Record<string, number>> {
  const rows = await rig.store.syncChanges
    .aggregate<{ _id: string; n: number }>([{ $match: { runId } }, { $group: { _id: '$action', n: { $sum: 1 } } }])
    .toArray();
  return Object.fromEntries(rows.map((r) => [r._id, r.n]));
}

/** Counts as the report's changes imply them (the run document must say the same). */
export function countsFromChanges(c: Record<string, number>): Partial<SyncCounts> {
  return {
    created: c.create ?? 0,
    linked: c.link ?? 0,
    updated: c.update ?? 0,
    deactivated: c.deactivate ?? 0,
    reactivated: c.reactivate ?? 0,
    skipped: c.skip ?? 0,
    conflicts: c.conflict ?? 0,
  };
}

/**
 * fast-check draws JavaScript's own property names on purpose (`length`, `constructor`,
 * `toString`…) for hostile strings: words any log may hold (the worker logs its options at
 * start), not anyone's data.
 */
const isJavaScriptWord = (s: string) =>
  [Object.prototype, Array.prototype, Function.prototype, String.prototype].some((p) => s in p);

/** Strings that must never reach a log line or a Temporal history: keys, emails, names. */
export function secretsOf(companies: RigCompany[]): string[] {
  const out = new Set<string>();
  for (const c of companies) {
    out.add(c.apiKey);
    for (const u of c.users) {
      if (typeof u.mail === 'string' && u.mail.trim().length >= 6) out.add(u.mail.trim());
      if (typeof u.mail === 'string' && u.mail.trim().length >= 6) out.add(u.mail.trim().toLowerCase());
      if (typeof u.firstName === 'string' && typeof u.lastName === 'string' && u.firstName && u.lastName) {
        out.add(`${u.firstName} ${u.lastName}`);
      }
      for (const name of [u.firstName, u.lastName]) {
        if (typeof name === 'string' && name.trim().length >= 8 && /^[\p{L}' -]+$/u.test(name.trim())) {
          out.add(name.trim());
        }
      }
    }
  }
  return [...out].filter((s) => !isJavaScriptWord(s));
}

/** Which of `needles` appear in `haystacks` (JSON strings are searched raw and unescaped). */
export function leaks(haystacks: string[], needles: string[]): string[] {
  const text = haystacks.join('\n');
  const jsonEscaped = (s: string) => JSON.stringify(s).slice(1, -1);
  return needles.filter((n) => text.includes(n) || text.includes(jsonEscaped(n)));
}
