// `npm run bench`: the pipeline through Temporal against a plain-script baseline, on the dev stack's
// Temporal server and FerretDB, with the fake Lucca and the worker each in its own process.
// Writes docs/benchmarks.md from what it measured. See the doc for how to read the numbers.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import { Command, InvalidArgumentError } from 'commander';
import { MongoClient, type Collection, type Document, type ObjectId } from 'mongodb';
import { format, resolveConfig } from 'prettier';
import { DEFAULT_SECRET_ID } from '../../config/env';
import { apiKeyHint, encryptApiKey, keyringOf } from '../../db/api-key-cipher';
import { CompaniesRepository } from '../../db/companies-repository';
import type { SyncRunResult } from '../../workflows/messages';
import { syncRunWorkflow } from '../../workflows/sync-run';
import { runResult } from '../../temporal/client';
import { localDate } from '../fake-lucca/dates';
import type { LuccaRawUser } from '../fake-lucca';
import { runBaseline } from './bench-baseline';
import { ChildWorker, writeWorkflowBundle } from '../child-worker/child-worker';
import { countCommands, minusCounts, type CommandCounts } from './command-counter';
import { PROJECT_ROOT } from '../stack/paths';
import { mongoUri, stackSettings, startStack, stopStack, temporalAddress, type StoreEngine } from '../stack/stack';

const SECRET = 'bench-secret-0123456789abcdef0123456789';
const TIMEZONE = 'Europe/Paris';

const list = (value: string): number[] =>
  value.split(',').map((v) => {
    const n = Number(v.trim());
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected integers, got "${v}"`);
    return n;
  });

interface Options {
  sizes: number[];
  reps: number[];
  changeSizes: number[];
  attachSizes: number[];
  rateLimitedSize: number;
  rateLimitedChange: boolean;
  seed: number;
  out: string;
}

const program = new Command()
  .name('bench')
  .description('Benchmark the sync pipeline against a plain baseline; writes docs/benchmarks.md.')
  .option('--sizes <list>', 'company sizes', list, [1_000, 10_000, 100_000])
  .option('--reps <list>', 'repetitions: one number, or one per size', list, [3])
  .option('--change-sizes <list>', 'sizes at which to measure the 1%-changed re-run', list, [1_000, 10_000])
  .option(
    '--attach-sizes <list>',
    'sizes at which to measure a first sync attaching the company imported (minutes at 100,000 on FerretDB)',
    list,
    [1_000, 10_000],
  )
  .option(
    '--rate-limited-size <n>',
    'size of the run under the 50 req/min limit (0: skip)',
    (v) => list(v)[0]!,
    100_000,
  )
  .option('--no-rate-limited-change', 'skip the 1%-changed re-run under the rate limit')
  .option('--seed <n>', 'dataset seed', (v) => list(v)[0]!, 42)
  .option('--out <file>', 'where to write the report', path.join(PROJECT_ROOT, 'docs', 'benchmarks.md'));

/** The fake Lucca as its own process (dev-tools/fake-lucca/main.ts), driven over /__fake. */
class FakeLuccaProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly origin: string,
    readonly tenantUrl: string,
  ) {}

  static async start(opts: { size: number; seed: number; apiKey: string; rateLimit: boolean }) {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(PROJECT_ROOT, 'dev-tools', 'fake-lucca', 'main.ts'),
        '--port',
        '0',
        '--tenant',
        'bench',
        '--size',
        String(opts.size),
        '--seed',
        String(opts.seed),
        '--today',
        localDate(),
        '--api-key-env',
        'BENCH_LUCCA_KEY',
        ...(opts.rateLimit ? [] : ['--no-rate-limit']),
      ],
      {
        cwd: PROJECT_ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, BENCH_LUCCA_KEY: opts.apiKey },
      },
    );
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        out += chunk;
        const done = out.split('\n').find((l) => l.startsWith('fake Lucca tenant'));
        if (done) resolve(done);
      });
      child.once('exit', (code) => reject(new Error(`fake Lucca exited (${code}): ${out}`)));
    });
    const tenantUrl = line.trim().split(' ').at(-1)!;
    return new FakeLuccaProcess(child, new URL(tenantUrl).origin, tenantUrl);
  }

  async control<T>(method: string, route: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.origin}/__fake${route}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`fake control ${method} ${route}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

interface PipelineRun {
  wallMs: number;
  result: SyncRunResult;
  historyEvents: number;
  /** Seconds spent in each activity (scheduled → completed, all attempts), from the history. */
  phases: Record<string, number>;
  /** The worker's MongoDB commands during the run. */
  ops: CommandCounts;
}

interface SizeResult {
  size: number;
  baselineMs: number[];
  baselineProfiles: number;
  /** The baseline's MongoDB commands (first repetition). */
  baselineOps: CommandCounts | null;
  pipelineMs: number[];
  pipelineProfiles: number;
  first: PipelineRun[];
  unchanged: PipelineRun | null;
  changed: PipelineRun | null;
  changedUsers: number;
  /** A first sync into a database already holding the company's profiles, unlinked (a staff import). */
  attach: PipelineRun | null;
  attachPeakRssKb: number | null;
  /** How long sampled profiles were missing while the attaching run rewrote them (see `watchMissing`). */
  attachMissing: MissingWatch | null;
  /** Worker VmHWM after the first sync, and at the end of the re-runs (kB). */
  peakRssAfterFirstKb: number[];
  peakRssEndKb: number | null;
  idleRssKb: number | null;
}

interface RateLimitedRun {
  wallMs: number;
  readMs: number;
  requests: number;
  tooMany: number;
  floorMs: number;
  profileWrites: number;
}

interface RateLimitedResult {
  size: number;
  first: RateLimitedRun;
  /** The same worker and database again, after 1% of the users changed; null when not asked. */
  changed: RateLimitedRun | null;
}

/** The longest a sampled profile was seen missing, and how often each was looked for. */
interface MissingWatch {
  longestMs: number;
  /** Mean time between two looks at the same profile: a gap may be up to this much longer than seen. */
  pollMs: number;
}

/**
 * Looks for the sampled profiles by `_id` (the one filter FerretDB evaluates in SQL: milliseconds
 * each), one after the other, until stopped: how long one was missing while the run rewrote it,
 * from the first look that did not find it to the first that found it again.
 */
function watchMissing(profiles: Collection<Document>, sample: ObjectId[]): { stop(): Promise<MissingWatch> } {
  let stopped = false;
  let longestMs = 0;
  let rounds = 0;
  const missingSince = new Map<string, number>();
  const started = performance.now();
  const looking = (async () => {
    while (!stopped) {
      for (const id of sample) {
        const found = await profiles.findOne({ _id: id }, { projection: { _id: 1 } });
        const key = id.toHexString();
        const since = missingSince.get(key);
        if (!found && since === undefined) missingSince.set(key, performance.now());
        if (found && since !== undefined) {
          longestMs = Math.max(longestMs, performance.now() - since);
          missingSince.delete(key);
        }
      }
      rounds += 1;
    }
  })();
  return {
    async stop() {
      stopped = true;
      await looking;
      return { longestMs, pollMs: (performance.now() - started) / Math.max(1, rounds) };
    },
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const sec = (ms: number) => (ms / 1000).toFixed(1);
const mb = (kb: number | null) => (kb === null ? 'n/a' : `${Math.round(kb / 1024)} MB`);
const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

class Bench {
  private readonly suffix = randomBytes(3).toString('hex');
  private readonly mongoCommands: { snapshot(): CommandCounts };
  constructor(
    private readonly client: Client,
    private readonly mongo: MongoClient,
    private readonly mongoUri: string,
    private readonly temporalAddress: string,
    private readonly bundlePath: string,
  ) {
    this.mongoCommands = countCommands(mongo);
  }

  dbName(kind: string, size: number, rep: number) {
    return `bench_${kind}_${size}_${rep}_${this.suffix}`;
  }

  async onboard(dbName: string, companyId: string, baseUrl: string, apiKey: string) {
    await new CompaniesRepository(this.mongo.db(dbName)).upsert({
      id: companyId,
      name: companyId,
      timezone: TIMEZONE,
      baseUrl,
      encryptedApiKey: encryptApiKey(
        keyringOf([{ id: DEFAULT_SECRET_ID, secret: SECRET }]),
        { companyId, baseUrl },
        apiKey,
      ),
      apiKeyHint: apiKeyHint(apiKey),
      connectionId: randomUUID(),
      every: '24h',
      now: new Date(),
    });
  }

  startWorker(dbName: string, taskQueue: string, rateLimit = 'off') {
    return ChildWorker.start({
      temporalAddress: this.temporalAddress,
      mongoUri: this.mongoUri,
      mongoDb: dbName,
      taskQueue,
      secret: SECRET,
      bundlePath: this.bundlePath,
      rateLimit,
      logLevel: 'warn',
      countCommands: true,
      onLine: (line) => {
        if (/"level":(50|60)/.test(line)) process.stderr.write(`worker: ${line}\n`);
      },
    });
  }

  async syncOnce(worker: ChildWorker, taskQueue: string, companyId: string): Promise<PipelineRun> {
    const runId = `bench-${randomUUID().slice(0, 8)}`;
    const opsBefore = await worker.commandCounts();
    const started = performance.now();
    const handle = await this.client.workflow.start(syncRunWorkflow, {
      taskQueue,
      workflowId: `sync-run:${companyId}:${runId}`,
      args: [
        { companyId, runId, trigger: 'manual', requestedBy: 'bench', dryRun: false, allowMassDeactivation: false },
      ],
    });
    const result = await runResult(handle);
    const wallMs = performance.now() - started;
    const ops = minusCounts(await worker.commandCounts(), opsBefore);
    const { events } = await handle.fetchHistory();
    const scheduled = new Map<string, { type: string; at: number }>();
    const phases: Record<string, number> = {};
    for (const e of events ?? []) {
      const at = tsToMs(e.eventTime);
      const s = e.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(String(e.eventId), { type: s.activityType?.name ?? '?', at });
      const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
      if (done) {
        const from = scheduled.get(String(done.scheduledEventId));
        if (from) phases[from.type] = (phases[from.type] ?? 0) + (at - from.at) / 1000;
      }
    }
    if (result.status !== 'succeeded') throw new Error(`run ${runId} ${result.status}: ${result.error?.message}`);
    return { wallMs, result, historyEvents: events?.length ?? 0, phases, ops };
  }

  async drop(dbName: string) {
    await this.mongo
      .db(dbName)
      .dropDatabase()
      .catch(() => undefined);
  }

  async measureSize(
    size: number,
    reps: number,
    seed: number,
    measure: { change: boolean; attach: boolean },
  ): Promise<SizeResult> {
    const apiKey = randomUUID().toUpperCase();
    log(`size ${size}: starting the fake Lucca (${size} users, rate limit off)`);
    const fake = await FakeLuccaProcess.start({ size, seed, apiKey, rateLimit: false });
    const r: SizeResult = {
      size,
      baselineMs: [],
      baselineProfiles: 0,
      baselineOps: null,
      pipelineMs: [],
      pipelineProfiles: 0,
      first: [],
      unchanged: null,
      changed: null,
      changedUsers: 0,
      attach: null,
      attachPeakRssKb: null,
      attachMissing: null,
      peakRssAfterFirstKb: [],
      peakRssEndKb: null,
      idleRssKb: null,
    };
    try {
      for (let rep = 1; rep <= reps; rep++) {
        // Alternate which goes first, so that a slow spell of the shared machine hits both alike.
        const order = rep % 2 ? (['baseline', 'pipeline'] as const) : (['pipeline', 'baseline'] as const);
        for (const kind of order) {
          if (kind === 'baseline') {
            const dbName = this.dbName('base', size, rep);
            const opsBefore = this.mongoCommands.snapshot();
            const started = performance.now();
            const out = await runBaseline({
              db: this.mongo.db(dbName),
              baseUrl: fake.tenantUrl,
              apiKey,
              companyId: 'bench',
              timezone: TIMEZONE,
            });
            const ms = performance.now() - started;
            r.baselineOps ??= minusCounts(this.mongoCommands.snapshot(), opsBefore);
            r.baselineMs.push(ms);
            r.baselineProfiles = out.profiles;
            log(`size ${size} rep ${rep}: baseline ${sec(ms)} s (${out.profiles} profiles, ${out.pages} pages)`);
            await this.drop(dbName);
          } else {
            await this.pipelineRep(r, fake, apiKey, rep, measure);
          }
        }
      }
    } finally {
      await fake.stop();
    }
    return r;
  }

  private async pipelineRep(
    r: SizeResult,
    fake: FakeLuccaProcess,
    apiKey: string,
    rep: number,
    measure: { change: boolean; attach: boolean },
  ) {
    const dbName = this.dbName('pipe', r.size, rep);
    const taskQueue = `bench-${this.suffix}-${r.size}-${rep}`;
    await this.onboard(dbName, 'bench', fake.tenantUrl, apiKey);
    const worker = await this.startWorker(dbName, taskQueue);
    try {
      r.idleRssKb ??= await worker.peakRssKb();
      const first = await this.syncOnce(worker, taskQueue, 'bench');
      r.first.push(first);
      r.pipelineMs.push(first.wallMs);
      r.pipelineProfiles = first.result.profileWrites;
      r.peakRssAfterFirstKb.push((await worker.peakRssKb()) ?? 0);
      log(
        `size ${r.size} rep ${rep}: pipeline ${sec(first.wallMs)} s (${first.result.profileWrites} writes, ` +
          `${first.historyEvents} events, peak ${mb(await worker.peakRssKb())})`,
      );
      if (rep !== 1) return;
      r.unchanged = await this.syncOnce(worker, taskQueue, 'bench');
      log(`size ${r.size}: unchanged re-run ${sec(r.unchanged.wallMs)} s, ${r.unchanged.result.profileWrites} writes`);
      if (measure.change) {
        r.changedUsers = await changeOnePercent(fake);
        r.changed = await this.syncOnce(worker, taskQueue, 'bench');
        log(`size ${r.size}: 1%-changed re-run ${sec(r.changed.wallMs)} s, ${r.changed.result.profileWrites} writes`);
      }
    } finally {
      const peak = await worker.peakRssKb();
      await worker.stop();
      if (rep === 1) r.peakRssEndKb = peak;
      if (rep === 1 && measure.attach)
        await this.measureAttach(r, dbName, fake, apiKey).finally(() => this.drop(dbName));
      else await this.drop(dbName);
    }
  }

  /**
   * A first sync that attaches every employee: the company's profiles as the pipeline created
   * them, copied into a fresh database without their Lucca link (as a staff import leaves them),
   * then synced by a fresh worker.
   */
  private async measureAttach(r: SizeResult, synced: string, fake: FakeLuccaProcess, apiKey: string) {
    const dbName = this.dbName('attach', r.size, 1);
    const taskQueue = `bench-${this.suffix}-${r.size}-attach`;
    try {
      const target = this.mongo.db(dbName).collection('profiles');
      let batch: Document[] = [];
      for await (const doc of this.mongo
        .db(synced)
        .collection('profiles')
        .find({}, { projection: { lucca: 0 } })) {
        batch.push(doc);
        if (batch.length === 1000) {
          await target.insertMany(batch);
          batch = [];
        }
      }
      if (batch.length > 0) await target.insertMany(batch);
      await this.onboard(dbName, 'bench', fake.tenantUrl, apiKey);
      const worker = await this.startWorker(dbName, taskQueue);
      // The first, middle and last profile of the company: a rewrite deletes a batch in one command
      // and inserts it again in chunks, so the last ones inserted are missing longest.
      const ids = await target.find({}, { projection: { _id: 1 } }).toArray();
      const sample = [ids[0], ids[Math.floor(ids.length / 2)], ids.at(-1)].map((d) => d!._id);
      const watch = watchMissing(target, sample);
      try {
        r.attach = await this.syncOnce(worker, taskQueue, 'bench');
        r.attachPeakRssKb = await worker.peakRssKb();
      } finally {
        r.attachMissing = await watch.stop();
        await worker.stop();
      }
      log(
        `size ${r.size}: first sync attaching ${sec(r.attach.wallMs)} s, ${r.attach.result.counts?.linked} linked, ` +
          `a sampled profile missing for at most ${r.attachMissing.longestMs.toFixed(0)} ms`,
      );
    } finally {
      await this.drop(dbName);
    }
  }

  async measureRateLimited(size: number, seed: number, withChange: boolean): Promise<RateLimitedResult> {
    const apiKey = randomUUID().toUpperCase();
    log(`rate limited: ${size} users, 50 requests per rolling minute at the fake and in the client`);
    const fake = await FakeLuccaProcess.start({ size, seed, apiKey, rateLimit: true });
    const dbName = this.dbName('limited', size, 1);
    const taskQueue = `bench-${this.suffix}-limited`;
    await this.onboard(dbName, 'bench', fake.tenantUrl, apiKey);
    const worker = await this.startWorker(dbName, taskQueue, '50/60s');
    let seen = 0;
    const limitedRun = async (label: string): Promise<RateLimitedRun> => {
      const run = await this.syncOnce(worker, taskQueue, 'bench');
      const all = await fake.control<{ status: number; at: number }[]>('GET', '/requests?tenant=bench');
      const requests = all.slice(seen);
      seen = all.length;
      const tooMany = requests.filter((q) => q.status === 429).length;
      // Rolling window of 50 per 60 s: request n (1-based) cannot start before floor((n-1)/50) minutes.
      const floorMs = Math.floor((requests.length - 1) / 50) * 60_000;
      const readMs = (run.phases.fetchLuccaUsers ?? 0) * 1000;
      log(`rate limited, ${label}: ${sec(run.wallMs)} s, ${requests.length} requests, ${tooMany} × 429`);
      return {
        wallMs: run.wallMs,
        readMs,
        requests: requests.length,
        tooMany,
        floorMs,
        profileWrites: run.result.profileWrites,
      };
    };
    try {
      const first = await limitedRun('first sync');
      if (!withChange) return { size, first, changed: null };
      await changeOnePercent(fake);
      // A fresh minute, so that the re-run's floor is its own requests' (the window still holds the first run's).
      await new Promise((resolve) => setTimeout(resolve, 60_000));
      return { size, first, changed: await limitedRun('1%-changed re-run') };
    } finally {
      await worker.stop();
      await fake.stop();
      await this.drop(dbName);
    }
  }
}

/** Changes the last name of every 100th user at the fake; returns how many changed. */
async function changeOnePercent(fake: FakeLuccaProcess): Promise<number> {
  const users = await fake.control<LuccaRawUser[]>('GET', '/tenants/bench/users');
  const changed = users.filter((_, i) => i % 100 === 0).map((u) => ({ ...u, lastName: `${String(u.lastName)}-Bench` }));
  await fake.control('PATCH', '/tenants/bench/users', { upsert: changed });
  return changed.length;
}

function phaseLine(run: PipelineRun): string {
  return Object.entries(run.phases)
    .map(([name, s]) => `${name} ${s.toFixed(1)} s`)
    .join(', ');
}

async function machine(): Promise<string> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  return `${os.availableParallelism()} CPUs (nproc), ${model}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
}

const perEmployee = (ops: CommandCounts | null | undefined, employees: number) =>
  ops ? [ops.commands, ops.written, ops.returned].map((n) => (n / employees).toFixed(3)).join(' / ') : 'n/a';

function render(opts: {
  engine: StoreEngine;
  command: string;
  date: string;
  machine: string;
  sizes: SizeResult[];
  limited: RateLimitedResult | null;
  totalMs: number;
}): string {
  const rows = opts.sizes.map((s) => {
    const base = median(s.baselineMs);
    const pipe = median(s.pipelineMs);
    return [
      s.size.toLocaleString('en'),
      `${sec(base)} s (${s.baselineMs.map(sec).join(' / ')})`,
      `${sec(pipe)} s (${s.pipelineMs.map(sec).join(' / ')})`,
      `${Math.round(s.size / (pipe / 1000)).toLocaleString('en')}/s`,
      `${(pipe / base).toFixed(2)}x`,
      String(s.pipelineProfiles),
      `${mb(s.idleRssKb)} → ${mb(median(s.peakRssAfterFirstKb))}`,
      String(s.first[0]?.historyEvents ?? 'n/a'),
    ];
  });
  const reruns = opts.sizes.map((s) => [
    s.size.toLocaleString('en'),
    s.unchanged ? `${sec(s.unchanged.wallMs)} s` : 'n/a',
    s.unchanged ? String(s.unchanged.result.profileWrites) : 'n/a',
    s.unchanged ? String(s.unchanged.historyEvents) : 'n/a',
    s.changed ? `${sec(s.changed.wallMs)} s` : 'not measured',
    s.changed ? `${s.changed.result.profileWrites} (${s.changedUsers} users changed)` : '—',
    s.changed ? String(s.changed.historyEvents) : '—',
    mb(s.peakRssEndKb),
  ]);
  const attaches = opts.sizes.map((s) => [
    s.size.toLocaleString('en'),
    s.attach ? `${sec(s.attach.wallMs)} s` : 'n/a',
    s.attach ? String(s.attach.result.counts?.linked ?? 'n/a') : 'n/a',
    s.attach ? String(s.attach.result.profileWrites) : 'n/a',
    mb(s.attachPeakRssKb),
    s.attachMissing
      ? `${s.attachMissing.longestMs.toFixed(0)} ms (each looked for every ${s.attachMissing.pollMs.toFixed(0)} ms)`
      : 'n/a',
  ]);
  const ops = opts.sizes.flatMap((s) => [
    [s.size.toLocaleString('en'), 'baseline, first sync', perEmployee(s.baselineOps, s.size)],
    [s.size.toLocaleString('en'), 'pipeline, first sync', perEmployee(s.first[0]?.ops, s.size)],
    [s.size.toLocaleString('en'), 'pipeline, unchanged re-run', perEmployee(s.unchanged?.ops, s.size)],
    [s.size.toLocaleString('en'), 'pipeline, 1%-changed re-run', perEmployee(s.changed?.ops, s.size)],
    [s.size.toLocaleString('en'), 'pipeline, first sync attaching', perEmployee(s.attach?.ops, s.size)],
  ]);
  const phases = opts.sizes.flatMap((s) =>
    [
      ['first sync', s.first[0]],
      ['unchanged re-run', s.unchanged],
      ['1%-changed re-run', s.changed],
      ['first sync attaching', s.attach],
    ]
      .filter((p): p is [string, PipelineRun] => p[1] !== null && p[1] !== undefined)
      .map(([label, run]) => `- ${s.size.toLocaleString('en')}, ${label} (${sec(run.wallMs)} s): ${phaseLine(run)}`),
  );
  const table = (head: string[], body: string[][]) =>
    [
      `| ${head.join(' | ')} |`,
      `| ${head.map(() => '---').join(' | ')} |`,
      ...body.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n');
  const l = opts.limited;
  return [
    generatedMarker(opts.engine),
    `## Raw results on FerretDB's ${opts.engine} engine (generated)`,
    '',
    `- Date: ${opts.date}`,
    `- Machine: ${opts.machine}`,
    `- Command: \`${opts.command}\``,
    `- Total bench time: ${sec(opts.totalMs)} s`,
    '',
    '### First sync, empty database (fake rate limit off)',
    '',
    'Median of the repetitions, each value in brackets; baseline and pipeline alternate within a repetition.',
    '',
    table(
      [
        'employees',
        'baseline',
        'pipeline',
        'employees/s',
        'pipeline/baseline',
        'profile writes',
        'worker RSS idle → peak',
        'history events',
      ],
      rows,
    ),
    '',
    '### Re-runs (same worker, same database)',
    '',
    table(
      ['employees', 'unchanged re-run', 'writes', 'events', '1%-changed re-run', 'writes', 'events', 'peak worker RSS'],
      reruns,
    ),
    '',
    '### First sync attaching existing profiles (the company imported unlinked, a fresh worker)',
    '',
    table(
      ['employees', 'wall', 'linked', 'profile writes', 'peak worker RSS', 'longest a sampled profile was missing'],
      attaches,
    ),
    '',
    '### MongoDB commands per employee (driver command monitoring: commands / documents written / documents returned)',
    '',
    'Counts of what the worker (or the baseline script) asked of the store: they do not depend on the machine, and carry over to MongoDB.',
    '',
    table(['employees', 'run', 'commands / written / returned per employee'], ops),
    '',
    '### Where the time goes (activity time from the run history, scheduled → completed)',
    '',
    ...phases,
    '',
    '### Under the rate limit (50 requests per rolling minute, fake and client)',
    '',
    l
      ? table(
          [
            'employees',
            'run',
            'wall',
            'read and plan',
            'requests',
            '429s',
            'floor',
            'wall / floor',
            'read / floor',
            'profile writes',
          ],
          (
            [
              ['first sync', l.first],
              ['1%-changed re-run', l.changed],
            ] satisfies [string, RateLimitedRun | null][]
          )
            .flatMap(([label, r]) => (r ? [[label, r] as const] : []))
            .map(([label, r]) => [
              l.size.toLocaleString('en'),
              label,
              `${sec(r.wallMs)} s`,
              `${sec(r.readMs)} s`,
              String(r.requests),
              String(r.tooMany),
              `${sec(r.floorMs)} s`,
              `${(r.wallMs / r.floorMs).toFixed(2)}x`,
              `${(r.readMs / r.floorMs).toFixed(2)}x`,
              String(r.profileWrites),
            ]),
        )
      : 'not measured in this run',
    '',
  ].join('\n');
}

const generatedMarker = (engine: StoreEngine) => `<!-- generated by dev-tools/bench/bench.ts: ${engine} -->`;
const END_MARKER = '<!-- end of generated section -->';

/** The document with the engine's generated section replaced (or appended), everything else kept. */
function replaceSection(doc: string, engine: StoreEngine, generated: string): string {
  const section = `${generated}\n${END_MARKER}\n`;
  const start = doc.indexOf(generatedMarker(engine));
  if (start === -1) return `${doc.trimEnd()}\n\n${section}`;
  const end = doc.indexOf(END_MARKER, start);
  const after = end === -1 ? '' : doc.slice(end + END_MARKER.length);
  return `${doc.slice(0, start)}${section}${after.replace(/^\n+/, '\n')}`;
}

async function main(): Promise<void> {
  const opts = program.parse().opts<Options>();
  const began = performance.now();
  const settings = stackSettings();
  const started = await startStack(settings, ['temporal', 'ferretdb']);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lucca-sync-bench-'));
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? temporalAddress(settings) });
  const uri = mongoUri(settings);
  const mongo = await new MongoClient(uri, { monitorCommands: true }).connect();
  try {
    log('bundling the workflows once');
    const bundlePath = await writeWorkflowBundle(path.join(dir, 'workflows.js'));
    const address = process.env.TEMPORAL_ADDRESS ?? temporalAddress(settings);
    const bench = new Bench(new Client({ connection }), mongo, uri, address, bundlePath);
    const sizes: SizeResult[] = [];
    for (const [i, size] of opts.sizes.entries()) {
      const reps = opts.reps[i] ?? opts.reps.at(-1) ?? 1;
      sizes.push(
        await bench.measureSize(size, reps, opts.seed, {
          change: opts.changeSizes.includes(size),
          attach: opts.attachSizes.includes(size),
        }),
      );
    }
    const limited =
      opts.rateLimitedSize > 0
        ? await bench.measureRateLimited(opts.rateLimitedSize, opts.seed, opts.rateLimitedChange)
        : null;
    const generated = render({
      engine: settings.engine,
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
      date: new Date().toISOString(),
      machine: await machine(),
      sizes,
      limited,
      totalMs: performance.now() - began,
    });
    // The doc's hand-written analysis stays; this engine's generated section is replaced, the other kept.
    const existing = await readFile(opts.out, 'utf8').catch(() => '');
    // Formatted like the rest of the repository, so that `npm run lint` stays clean after a bench.
    const prettierOptions = { ...(await resolveConfig(opts.out)), filepath: opts.out };
    await writeFile(opts.out, await format(replaceSection(existing, settings.engine, generated), prettierOptions));
    await writeFile(
      path.join(dir, '..', `lucca-sync-bench-${Date.now()}.json`),
      JSON.stringify({ sizes, limited }, null, 2),
    );
    log(`wrote ${opts.out}`);
    process.stdout.write(generated);
  } finally {
    await mongo.close();
    await connection.close();
    await rm(dir, { recursive: true, force: true });
    if (started.length) await stopStack(started);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
