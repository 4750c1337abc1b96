/**
 * A fleet on one worker, then two (issue 23, point 6): `--companies` companies of `--employees`
 * each, every one its own fake Lucca tenant (one fake process, Lucca's 50 requests a minute per
 * tenant, the workers' budget set alike), all in one database as in production; each onboarded and
 * given its first full read through its company workflow, then put on its Temporal Schedule as
 * production makes it (`companyScheduleOptions`), except that the 4-hour interval is
 * `--interval` seconds of real time and each company's offset in it is scaled alike (production:
 * `scheduleOffsetMs`, spread over the 4 hours; here the same fraction of `--interval`), so the
 * firings spread as production's do. Each firing asks for an incremental run (the day's full read is done).
 * `--changed` users of each tenant change before each cycle. The schedules fire `--cycles` times
 * with one worker, then the same number of times with each count of `--workers` after it:
 *
 *   npm run bench:fleet -- [--companies 1000] [--employees 1000] [--interval 240] [--cycles 3]
 *     [--workers 1,2] [--changed 10] [--seed 42] [--window <seconds>]
 *
 * A compressed interval asks runs of the store that many times faster than production does.
 * `--window` measures production's own pace instead: a phase is that many seconds of one cycle
 * (`--interval 14400`: the real 4 hours), and only the companies whose firing falls in it are due.
 *
 * Measured per phase: Lucca requests per scaled hour (the fake's log), each firing's queueing
 * delay (its schedule's time to the start of the run that served it), how long each cycle's runs
 * went on after its last firing, and the CPU and memory of the workers, FerretDB and the
 * Temporal server (`/proc/<pid>/stat` and `status`, sampled every second). Prints Markdown for
 * docs/benchmarks.md and writes the raw figures beside the temporary directory. Uses a database of
 * its own, dropped; its schedules are deleted and its company workflows terminated at the end.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Client,
  Connection,
  ScheduleOverlapPolicy,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { Command, InvalidArgumentError } from 'commander';
import { MongoClient } from 'mongodb';
import pLimit from 'p-limit';
import { companyScheduleOptions, scheduleOffsetMs } from '../../operations/schedule';
import { requestSyncWithStart } from '../../temporal/client';
import { companyWorkflowId, scheduleId } from '../../temporal/ids';
import type { ChildWorker } from '../child-worker/child-worker';
import { writeWorkflowBundle } from '../child-worker/child-worker';
import { generateLuccaUsers, type LuccaRawUser } from '../fake-lucca';
import { localDate } from '../fake-lucca/dates';
import { FakeLuccaProcess } from '../fake-lucca/process';
import { mongoUri, readPid, stackSettings, startStack, stopStack, temporalAddress } from '../stack/stack';
import { machine, sec } from './report';
import { Bench, log } from './runner';

const FOUR_HOURS_MS = 4 * 3_600_000;
/** A schedule's description keeps its last ten firings: the phases' firings must fit in them. */
const RECENT_ACTIONS = 10;
/** A wait that sees no run end for this long has stalled (the seeding, a cycle's last runs). */
const STALL_MS = 10 * 60_000;

const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER) =>
  (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}, got "${value}"`);
    }
    return n;
  };

interface Options {
  companies: number;
  employees: number;
  interval: number;
  cycles: number;
  workers: number[];
  changed: number;
  seed: number;
  window?: number;
}

const program = new Command()
  .name('bench:fleet')
  .description('A fleet of companies on a compressed 4-hour cadence of incremental runs, on one worker then more.')
  .option('--companies <n>', 'companies, each its own Lucca tenant', integer(1, 100_000), 1_000)
  .option('--employees <n>', 'employees per company', integer(1, 1_000_000), 1_000)
  .option('--interval <seconds>', 'real seconds standing for the schedules’ 4 hours', integer(10, 4 * 3_600), 240)
  .option('--cycles <n>', 'firings of every schedule per phase', integer(1), 3)
  .option(
    '--workers <list>',
    'worker counts, one phase each, growing (workers are added, never replaced)',
    (value: string) => {
      const counts = value.split(',').map((v) => integer(1, 8)(v.trim()));
      if (counts.some((n, i) => i > 0 && n <= counts[i - 1]!)) {
        throw new InvalidArgumentError(`expected growing worker counts such as 1,2, got "${value}"`);
      }
      return counts;
    },
    [1, 2],
  )
  .option('--changed <n>', 'users changed in each tenant before each cycle', integer(0), 10)
  .option('--seed <n>', 'dataset seed', integer(0), 42)
  .option(
    '--window <seconds>',
    'a phase is this many seconds of one cycle, only the firings in it due (default: whole cycles)',
    integer(10, 4 * 3_600),
  );

const opts = program.parse().opts<Options>();
if (opts.changed * opts.cycles * opts.workers.length > opts.employees) {
  program.error(
    `--changed ${opts.changed} × --cycles ${opts.cycles} × ${opts.workers.length} phases is more users than --employees ${opts.employees}: each change must be a user not changed before`,
  );
}
if (opts.cycles * opts.workers.length > RECENT_ACTIONS) {
  program.error(
    `--cycles ${opts.cycles} × ${opts.workers.length} phases is more than the ${RECENT_ACTIONS} firings a schedule remembers, from which the delays are measured`,
  );
}

if (opts.window !== undefined && (opts.cycles !== 1 || opts.window >= opts.interval)) {
  program.error(`--window ${opts.window} needs --cycles 1 and an --interval longer than the window`);
}

const intervalMs = opts.interval * 1000;
/**
 * A company's offset in the compressed interval: the same fraction of it as production's in 4 h,
 * to the whole second (Temporal fires on whole seconds: an offset of 4.006 s fires at 4 s).
 */
const offsetMs = (companyId: string) =>
  Math.floor((scheduleOffsetMs(companyId, FOUR_HOURS_MS) * intervalMs) / FOUR_HOURS_MS / 1000) * 1000;
/** Real milliseconds of the bench per scaled hour. */
const realMsPerScaledHour = intervalMs / 4;

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

interface Sample {
  at: number;
  /** utime + stime, in clock ticks. */
  ticks: number;
  rssKb: number;
  hwmKb: number;
}

/** Fields of `/proc/<pid>/stat` after the command name (which may hold spaces), from field 3 on. */
async function statFields(pid: number): Promise<string[] | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat ? stat.slice(stat.lastIndexOf(')') + 2).split(' ') : null;
}

const kbOf = (status: string, name: string) =>
  Number(new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? Number.NaN);

/**
 * A process's CPU (utime + stime, fields 14 and 15) and memory. With `children` (PostgreSQL, a
 * process per connection): its live children's CPU and RSS added, and the CPU of those it reaped
 * (cutime + cstime, fields 16 and 17).
 */
async function sampleProcess(pid: number, children = false): Promise<Sample | null> {
  const [fields, status] = await Promise.all([
    statFields(pid),
    readFile(`/proc/${pid}/status`, 'utf8').catch(() => null),
  ]);
  if (!fields || !status) return null;
  const sample = {
    at: Date.now(),
    ticks: Number(fields[11]) + Number(fields[12]),
    rssKb: kbOf(status, 'VmRSS'),
    hwmKb: kbOf(status, 'VmHWM'),
  };
  if (!children) return sample;
  sample.ticks += Number(fields[13]) + Number(fields[14]);
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const child = await statFields(Number(entry));
    // Field 4, the parent's pid.
    if (!child || Number(child[1]) !== pid) continue;
    sample.ticks += Number(child[11]) + Number(child[12]);
    const childStatus = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    sample.rssKb += kbOf(childStatus, 'VmRSS') || 0;
  }
  return sample;
}

/** Samples named processes every second until stopped; the figures of a window of time come from `between`. */
class ProcessSampler {
  private readonly samples = new Map<string, Sample[]>();
  private readonly pids = new Map<string, { pid: number; children: boolean }>();
  private timer: NodeJS.Timeout | undefined;

  watch(name: string, pid: number, children = false) {
    this.pids.set(name, { pid, children });
    this.samples.set(name, []);
  }

  start() {
    this.timer = setInterval(() => void this.tick(), 1_000);
  }

  private async tick() {
    for (const [name, { pid, children }] of this.pids) {
      const s = await sampleProcess(pid, children);
      if (s) this.samples.get(name)!.push(s);
    }
  }

  stop() {
    clearInterval(this.timer);
  }

  /** CPU (share of one core: mean, and the busiest 10 s) and memory (RSS mean and most, VmHWM) over [from, to). */
  between(name: string, from: number, to: number) {
    const s = (this.samples.get(name) ?? []).filter((x) => x.at >= from && x.at < to);
    if (s.length < 2) return null;
    const cpu = (a: Sample, b: Sample) => (b.ticks - a.ticks) / CLOCK_TICKS / ((b.at - a.at) / 1000);
    let busiest = 0;
    for (let i = 0, j = 0; i < s.length; i++) {
      while (j < s.length && s[j]!.at - s[i]!.at < 10_000) j++;
      if (j < s.length) busiest = Math.max(busiest, cpu(s[i]!, s[j]!));
    }
    return {
      cpuMean: cpu(s[0]!, s.at(-1)!),
      cpuBusiest10s: busiest,
      rssMeanKb: s.reduce((n, x) => n + x.rssKb, 0) / s.length,
      rssMaxKb: Math.max(...s.map((x) => x.rssKb)),
      hwmKb: s.at(-1)!.hwmKb,
    };
  }
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** A logger for a long wait that says, at most once a minute, what it is waiting for. */
function everyMinute(): (message: () => string) => void {
  let saidAt = Date.now();
  return (message) => {
    if (Date.now() - saidAt < 60_000) return;
    log(message());
    saidAt = Date.now();
  };
}

const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');

interface Company {
  id: string;
  tenant: string;
  /** The users changed before each cycle, in order (each changed once). */
  toChange: LuccaRawUser[];
}

interface PhaseResult {
  workers: number;
  from: number;
  to: number;
  /** Firings the schedules owed in the phase. */
  due: number;
  firings: number;
  /** Firings whose run had not started when the phase's runs were counted. */
  unserved: number;
  delaysMs: number[];
  /** Each scheduled run's time from its start to its end. */
  durationsMs: number[];
  runs: { total: number; incremental: number; failed: number; profileWrites: number; usersSeen: number };
  /** Per cycle: from its last firing to the end of the last run its firings asked for. */
  drainsMs: number[];
  luccaRequests: number;
  tooMany: number;
  usersChanged: number;
  load: { before: string; after: string };
  processes: Record<string, ReturnType<ProcessSampler['between']>>;
}

const settings = stackSettings();
const started = await startStack(settings, ['temporal', 'ferretdb']);
const dir = await mkdtemp(path.join(os.tmpdir(), 'lucca-sync-bench-fleet-'));
const address = process.env.TEMPORAL_ADDRESS ?? temporalAddress(settings);
const connection = await Connection.connect({ address });
const client = new Client({ connection });
const uri = mongoUri(settings);
const mongo = await new MongoClient(uri).connect();
const suffix = randomBytes(3).toString('hex');
const dbName = `bench_fleet_${suffix}`;
const taskQueue = `bench-fleet-${suffix}`;
const sampler = new ProcessSampler();
const workers: ChildWorker[] = [];
const companies: Company[] = [];
let fake: FakeLuccaProcess | null = null;
/** The cleanup under way, awaited by whoever asks for it again (a signal and the main flow's end). */
let cleaning: Promise<void> | null = null;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cleanup().finally(() => process.exit(130)));
}
const began = Date.now();
try {
  log('bundling the workflows once');
  const bundlePath = await writeWorkflowBundle(path.join(dir, 'workflows.js'));
  const bench = new Bench(client, mongo, uri, address, bundlePath);
  const apiKey = randomUUID().toUpperCase();
  fake = await FakeLuccaProcess.start({ size: 0, seed: opts.seed, apiKey, rateLimit: false });

  // The tenants: Lucca's rate limit each (the fake's default), users of their own (ids, emails).
  const today = localDate();
  const perPhase = opts.changed * opts.cycles;
  for (let i = 0; i < opts.companies; i++) {
    const users = generateLuccaUsers({
      size: opts.employees,
      seed: opts.seed + i,
      today,
      startId: i * 1_000_000 + 1,
      emailDomain: `co${i}.example`,
    });
    const tenant = `fleet${i}`;
    const { url } = await fake.control<{ url: string }>('POST', `/tenants/${tenant}`, {
      users,
      apiKeys: [{ key: apiKey }],
    });
    const companyId = `fleet-${suffix}-${i}`;
    await bench.onboard(dbName, companyId, url, apiKey);
    const step = Math.max(1, Math.floor(users.length / (perPhase * opts.workers.length || 1)));
    companies.push({
      id: companyId,
      tenant,
      toChange: users.filter((_, k) => k % step === 0).slice(0, perPhase * opts.workers.length),
    });
    if ((i + 1) % 100 === 0) log(`${i + 1} tenants made and companies onboarded`);
  }

  const addWorkers = async (count: number) => {
    while (workers.length < count) {
      const worker = await bench.startWorker(dbName, taskQueue, '50/60s');
      workers.push(worker);
      sampler.watch(`worker ${workers.length}`, worker.pid);
    }
  };
  for (const service of ['ferretdb', 'temporal', 'postgres'] as const) {
    const pid = await readPid(service);
    if (pid !== null && (service !== 'postgres' || settings.engine === 'postgresql')) {
      sampler.watch(service, pid, service === 'postgres');
    }
  }
  await addWorkers(opts.workers[0]!);
  sampler.start();
  const runs = mongo.db(dbName).collection<{ companyId: string; status: string; trigger: string }>('syncRuns');

  /**
   * Waits until `count` runs match `filter` and none is running, or — firings that came while a
   * run was waiting fold into it, so there may be fewer runs than firings — until none has run for
   * 10 s (a worker with a request queued would be running it). Fails when no run ends for `STALL_MS`;
   * says every minute how far it is.
   */
  const runsEnded = async (what: string, filter: Record<string, unknown>, count: number) => {
    let ended = -1;
    let progressAt = Date.now();
    const say = everyMinute();
    let idleSince: number | null = null;
    for (;;) {
      const [done, running] = await Promise.all([
        runs.countDocuments({ ...filter, status: { $ne: 'running' } }),
        runs.countDocuments({ ...filter, status: 'running' }),
      ]);
      if (done >= count && running === 0) return;
      idleSince = running === 0 ? (idleSince ?? Date.now()) : null;
      if (idleSince !== null && Date.now() - idleSince >= 10_000 && done > 0) return;
      if (done !== ended) [ended, progressAt] = [done, Date.now()];
      if (Date.now() - progressAt > STALL_MS) {
        throw new Error(`${what}: ${done} of ${count} runs ended, none for ${STALL_MS / 60_000} min`);
      }
      say(() => `waiting for ${what}: ${done} of ${count} ended, ${running} running`);
      await sleep(2_000);
    }
  };

  // The first full read of every company, through its company workflow as an operator asks for it.
  log(`first full reads of ${opts.companies} companies of ${opts.employees}`);
  const seedFrom = Date.now();
  const ask = pLimit(8);
  const describeSchedule = (id: string) => client.schedule.getHandle(scheduleId(id)).describe();
  // A loaded server or a busy worker may not answer within the wait: asked again under the same
  // request key, which the workflow takes once (at 1,000 companies one ask went past 120 s).
  const seed = async (companyId: string) => {
    const request = { trigger: 'manual', requestedBy: 'bench', kind: 'full', requestKey: randomUUID() } as const;
    for (let attempt = 1; ; attempt++) {
      try {
        return await requestSyncWithStart(client, taskQueue, companyId, request, { answerWithinMs: 120_000 });
      } catch (err) {
        if (!(err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) || attempt >= 5) throw err;
        log(
          `${companyId}'s workflow did not take its first full read within 120 s (ask ${attempt} of 5); asking again`,
        );
      }
    }
  };
  await Promise.all(companies.map((c) => ask(() => seed(c.id))));
  await runsEnded('the first full reads', { trigger: 'manual' }, opts.companies);
  const seedMs = Date.now() - seedFrom;
  const seedFailed = await runs.countDocuments({ trigger: 'manual', status: { $ne: 'succeeded' } });
  const seedCpu = sampler.between('worker 1', seedFrom, Date.now());
  const seedFerret = sampler.between('ferretdb', seedFrom, Date.now());
  log(`first full reads: ${sec(seedMs)} s, ${seedFailed} not succeeded`);
  if (seedFailed > 0) throw new Error(`${seedFailed} first full reads did not succeed`);

  // The schedules, as production makes them, the interval and offsets compressed.
  const specOf = (companyId: string) => ({ intervals: [{ every: intervalMs, offset: offsetMs(companyId) }] });
  for (const c of companies) {
    const options = companyScheduleOptions({ companyId: c.id, every: '4h', taskQueue });
    await client.schedule.create({
      ...options,
      spec: specOf(c.id),
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: Math.max(intervalMs, 10_000) },
      // Paused until a phase begins; paused again once its last firings are taken, so that its
      // runs drain before it is measured and the next phase adds a worker.
      state: { ...options.state, paused: true },
    });
  }
  const pauseAll = () =>
    Promise.all(
      companies.map((c) =>
        ask(() => client.schedule.getHandle(scheduleId(c.id)).pause('between phases of the fleet benchmark')),
      ),
    );
  log(`${opts.companies} schedules every ${opts.interval} s (standing for 4 h), each at its offset`);

  // Phases start at an interval boundary (intervals are counted from the epoch) and hold
  // `cycles` whole intervals: the spec's start and end keep each schedule to exactly `cycles`
  // firings, whatever its offset, and the boundary leaves time to bring every schedule to them.
  const boundary = (t: number) => Math.ceil(t / intervalMs) * intervalMs;
  /** A company's first firing at or after `t` (firings fall at the offset past each whole interval). */
  const firingFrom = (companyId: string, t: number) =>
    t + ((((offsetMs(companyId) - t) % intervalMs) + intervalMs) % intervalMs);
  const settingUpMs = 10_000 + 50 * opts.companies;
  const phases: PhaseResult[] = [];
  let changedSoFar = 0;
  for (const [p, count] of opts.workers.entries()) {
    await addWorkers(count);
    // A window starts on a whole second, wherever that falls in the interval.
    const from =
      opts.window === undefined
        ? boundary(Date.now() + settingUpMs)
        : Math.ceil((Date.now() + settingUpMs) / 1000) * 1000;
    const to = opts.window === undefined ? from + opts.cycles * intervalMs : from + opts.window * 1000;
    const dueIds = companies.filter((c) => firingFrom(c.id, from) < to).map((c) => c.id);
    log(
      `phase ${p + 1}: ${dueIds.length} of ${opts.companies} companies fire between ${new Date(from).toISOString()} and ${new Date(to).toISOString()}`,
    );
    // Spec and unpause in one update: an update and a pause or unpause that reach a schedule
    // together are applied pause first, then the update's whole state (seen: 3 of 20 stayed paused).
    await Promise.all(
      companies.map((c) =>
        ask(() =>
          client.schedule.getHandle(scheduleId(c.id)).update((previous) => ({
            ...previous,
            spec: { ...specOf(c.id), startAt: new Date(from), endAt: new Date(to - 1) },
            state: { ...previous.state, paused: false, note: 'a phase of the fleet benchmark' },
          })),
        ),
      ),
    );
    if (Date.now() > from) log(`schedules ready ${sec(Date.now() - from)} s after the phase began: early firings lost`);
    const loadBefore = loadAverage();
    let usersChanged = 0;
    for (let cycle = 0; cycle < opts.cycles; cycle++) {
      const firingAt = from + cycle * intervalMs;
      // Changes land half an interval before the cycle begins, or at once. The firings are spread
      // over the interval, so a company firing late in the previous cycle reads them then; each run
      // reads everyone changed so far anyway (see docs/benchmarks.md), and writes only what changed.
      await sleep(Math.max(0, firingAt - intervalMs / 2 - Date.now()));
      if (opts.changed > 0) {
        await Promise.all(
          companies.map((c) =>
            ask(() =>
              fake!.control('PATCH', `/tenants/${c.tenant}/users`, {
                upsert: c.toChange
                  .slice(changedSoFar, changedSoFar + opts.changed)
                  .map((u) => ({ ...u, lastName: `${String(u.lastName)}-Fleet` })),
              }),
            ),
          ),
        );
        changedSoFar += opts.changed;
        usersChanged += opts.changed * companies.length;
      }
      log(`phase ${p + 1} (${count} worker${count > 1 ? 's' : ''}), cycle ${cycle + 1}: changes made`);
    }
    // The last cycle's runs come to their end before the next phase adds a worker.
    const lastCycle = from + (opts.cycles - 1) * intervalMs;
    await sleep(Math.max(0, to + 2_000 - Date.now()));
    // A loaded server takes a firing minutes after its time (seen: 2 min 43 s), and a paused
    // schedule never takes it: pause once every schedule has taken its last firing of the phase, or
    // an interval later, 30 min at most (the missing ones are then reported as not taken).
    const lastTaken = Date.now() + Math.min(intervalMs, 30 * 60_000);
    const waiting = new Set(dueIds);
    const say = everyMinute();
    while (waiting.size > 0 && Date.now() < lastTaken) {
      say(() => `waiting for ${waiting.size} schedules to take their last firing of the phase`);
      await Promise.all(
        [...waiting].map((id) =>
          ask(async () => {
            // A server this busy may time a describe out (seen: DEADLINE_EXCEEDED): asked again next round.
            const described = await describeSchedule(id).catch(() => null);
            if (described?.info.recentActions.some((a) => a.scheduledAt.getTime() >= lastCycle)) waiting.delete(id);
          }),
        ),
      );
      if (waiting.size > 0) await sleep(2_000);
    }
    await pauseAll();
    const expected = dueIds.length * opts.cycles;
    await runsEnded(
      `phase ${p + 1}'s runs`,
      { trigger: 'schedule', startedAt: { $gte: new Date(from) } },
      expected,
    ).catch((err: unknown) => {
      throw new Error(
        `${err instanceof Error ? err.message : String(err)} (last cycle at ${new Date(lastCycle).toISOString()})`,
      );
    });
    const ended = Date.now();
    phases.push(await measurePhase(count, from, to, expected, ended, usersChanged, loadBefore));
  }

  async function measurePhase(
    count: number,
    phaseFrom: number,
    phaseTo: number,
    due: number,
    ended: number,
    usersChanged: number,
    loadBefore: string,
  ): Promise<PhaseResult> {
    const delaysMs: number[] = [];
    /** Per cycle: its last firing's time and its runs' last end. */
    const drains = new Map<number, { lastFiring: number; lastEnd: number }>();
    let firings = 0;
    let unserved = 0;
    const scheduledRuns = await runs
      .find({ trigger: 'schedule', startedAt: { $gte: new Date(phaseFrom) } })
      .project<{
        companyId: string;
        startedAt: Date;
        finishedAt: Date | null;
        status: string;
        kind?: string;
        profileWrites: number;
        counts: { seen?: number } | null;
      }>({
        companyId: 1,
        startedAt: 1,
        finishedAt: 1,
        status: 1,
        kind: 1,
        profileWrites: 1,
        counts: 1,
      })
      .toArray();
    const byCompany = new Map<string, typeof scheduledRuns>();
    for (const r of scheduledRuns) byCompany.set(r.companyId, [...(byCompany.get(r.companyId) ?? []), r]);
    for (const c of companies) {
      // Asked again, a few times, if a still-busy server times the describe out.
      let described = await describeSchedule(c.id).catch(() => null);
      for (let tries = 1; described === null && tries < 5; tries++) {
        await sleep(2_000);
        described = await describeSchedule(c.id).catch(() => null);
      }
      described ??= await describeSchedule(c.id);
      const own = (byCompany.get(c.id) ?? []).sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
      for (const action of described.info.recentActions) {
        const at = action.scheduledAt.getTime();
        if (at < phaseFrom || at >= phaseTo) continue;
        firings++;
        // The run that served the firing: the first of the company's to start after it was taken.
        const run = own.find((r) => r.startedAt.getTime() >= action.takenAt.getTime());
        if (!run) {
          unserved++;
          continue;
        }
        delaysMs.push(run.startedAt.getTime() - at);
        const cycle = Math.floor((at - phaseFrom) / intervalMs);
        const drain = drains.get(cycle) ?? { lastFiring: 0, lastEnd: 0 };
        drains.set(cycle, {
          lastFiring: Math.max(drain.lastFiring, at),
          lastEnd: Math.max(drain.lastEnd, run.finishedAt?.getTime() ?? ended),
        });
      }
    }
    const requests = await fake!.control<{ path: string; status: number; at: number }[]>('GET', '/requests');
    const inPhase = requests.filter((r) => r.at >= phaseFrom && r.at < ended && r.path.startsWith('/api/v3/users'));
    const processes: PhaseResult['processes'] = {};
    for (const name of [
      'ferretdb',
      'postgres',
      'temporal',
      ...workers.slice(0, count).map((_, i) => `worker ${i + 1}`),
    ]) {
      processes[name] = sampler.between(name, phaseFrom, phaseTo);
    }
    const result: PhaseResult = {
      workers: count,
      from: phaseFrom,
      to: phaseTo,
      due,
      firings,
      unserved,
      delaysMs: delaysMs.sort((a, b) => a - b),
      durationsMs: scheduledRuns
        .filter((r) => r.finishedAt)
        .map((r) => r.finishedAt!.getTime() - r.startedAt.getTime())
        .sort((a, b) => a - b),
      runs: {
        total: scheduledRuns.length,
        incremental: scheduledRuns.filter((r) => r.kind === 'incremental').length,
        failed: scheduledRuns.filter((r) => r.status !== 'succeeded').length,
        profileWrites: scheduledRuns.reduce((n, r) => n + (r.profileWrites ?? 0), 0),
        usersSeen: scheduledRuns.reduce((n, r) => n + (r.counts?.seen ?? 0), 0),
      },
      drainsMs: [...drains.entries()].sort(([a], [b]) => a - b).map(([, d]) => d.lastEnd - d.lastFiring),
      luccaRequests: inPhase.length,
      tooMany: inPhase.filter((r) => r.status === 429).length,
      usersChanged,
      load: { before: loadBefore, after: loadAverage() },
      processes,
    };
    log(
      `phase with ${count} worker(s): ${firings} firings, ${result.runs.total} runs, delay p50 ${sec(percentile(result.delaysMs, 50))} s, ` +
        `p95 ${sec(percentile(result.delaysMs, 95))} s, max ${sec(result.delaysMs.at(-1) ?? Number.NaN)} s; ${inPhase.length} Lucca requests`,
    );
    return result;
  }

  const raw = path.join(dir, '..', `lucca-sync-bench-fleet-${Date.now()}.json`);
  await writeFile(raw, JSON.stringify({ opts, seedMs, phases }, null, 2));
  const pct = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? 'n/a' : `${Math.round(x * 100)} %`);
  const mbOf = (kb: number | undefined) => (kb === undefined ? 'n/a' : `${Math.round(kb / 1024)} MB`);
  const proc = (ph: PhaseResult, name: string) => {
    const s = ph.processes[name];
    return s
      ? `${pct(s.cpuMean)} (busiest 10 s ${pct(s.cpuBusiest10s)}), RSS ${mbOf(s.rssMeanKb)} mean, ${mbOf(s.rssMaxKb)} most`
      : 'n/a';
  };
  const lines = [
    `${opts.companies.toLocaleString('en')} companies × ${opts.employees.toLocaleString('en')} employees, one tenant each; store ${settings.engine}; ${await machine()}.`,
    `Command: \`npm run bench:fleet -- ${process.argv.slice(2).join(' ')}\`. Schedules every ${opts.interval} s standing for 4 h ` +
      `(1 real second = ${(FOUR_HOURS_MS / intervalMs).toFixed(0)} scaled seconds), each company at its offset in the interval, scaled alike.`,
    `First full reads (${opts.companies} runs on ${opts.workers[0]} worker${opts.workers[0]! > 1 ? 's' : ''}): ${sec(seedMs)} s` +
      (seedCpu ? `; worker CPU ${pct(seedCpu.cpuMean)}, FerretDB ${pct(seedFerret?.cpuMean)}.` : '.'),
    '',
    "| workers | firings taken of due (unserved) | runs (incremental, failed) | users changed / profile writes | Lucca requests (429s) | per scaled hour | queueing delay p50 / p95 / max | run time p50 / max | end of the last run after each cycle's last firing | load before → after |",
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...phases.map(
      (ph) =>
        `| ${ph.workers} | ${ph.firings} of ${ph.due} (${ph.unserved}) | ${ph.runs.total} (${ph.runs.incremental}, ${ph.runs.failed}) | ${ph.usersChanged} / ${ph.runs.profileWrites} | ${ph.luccaRequests} (${ph.tooMany}) | ` +
        `${Math.round(ph.luccaRequests / ((ph.to - ph.from) / realMsPerScaledHour))} | ` +
        `${sec(percentile(ph.delaysMs, 50))} / ${sec(percentile(ph.delaysMs, 95))} / ${sec(ph.delaysMs.at(-1) ?? Number.NaN)} s | ` +
        `${sec(percentile(ph.durationsMs, 50))} / ${sec(ph.durationsMs.at(-1) ?? Number.NaN)} s | ` +
        `${ph.drainsMs.map((d) => `${sec(d)} s`).join(', ')} | ${ph.load.before} → ${ph.load.after} |`,
    ),
    '',
    '| workers | process | CPU (share of one core, mean over the phase) and memory |',
    '| --- | --- | --- |',
    ...phases.flatMap((ph) =>
      Object.keys(ph.processes)
        .filter((name) => ph.processes[name])
        .map((name) => `| ${ph.workers} | ${name} | ${proc(ph, name)} |`),
    ),
    '',
    `Raw figures: ${raw}. Total bench time ${sec(Date.now() - began)} s.`,
  ];
  console.log(lines.join('\n'));
} finally {
  await cleanup();
}
process.exit(0);

/** Leaves nothing behind: the schedules, company workflows, processes and database of the bench. */
function cleanup(): Promise<void> {
  // Stopped by a signal, the bench's in-flight asks fail as their workflows end; the main flow
  // then waits here for the cleanup to finish rather than end the process halfway through it (a
  // stopped run left its database behind).
  return (cleaning ??= leaveNothingBehind());
}

async function leaveNothingBehind() {
  sampler.stop();
  for (const c of companies) {
    await client.schedule
      .getHandle(scheduleId(c.id))
      .delete()
      .catch(() => undefined);
    await client.workflow
      .getHandle(companyWorkflowId(c.id))
      .terminate('benchmark over')
      .catch(() => undefined);
  }
  for (const worker of workers) await worker.stop().catch(() => undefined);
  await fake?.stop();
  await mongo
    .db(dbName)
    .dropDatabase()
    .catch(() => undefined);
  await mongo.close();
  await connection.close();
  await rm(dir, { recursive: true, force: true });
  if (started.length) await stopStack(started);
}
