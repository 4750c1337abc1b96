// `npm run chaos`: the reliability scenarios of test/integration/reliability.test.ts, bigger and
// longer — more employees, more pages, more kills at moments drawn over the whole run, FerretDB and
// Temporal killed at every step a run goes through, the store's connection cut, Lucca faults, more
// hostile datasets — on a private Temporal dev server and FerretDB. Every fault is aimed at a
// moment the run is held at, and the check fails when the run never comes to it or the fault lands
// outside it. Prints one line per check.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Command, InvalidArgumentError } from 'commander';
import fc from 'fast-check';
import { generateLuccaUsers } from '../fake-lucca';
import { localDate } from '../fake-lucca/dates';
import { LUCCA_RATE_LIMIT } from '../../lucca/rate-limiter';
import { scheduleDay } from './day';
import { fleetChaos } from './fleet';
import { hostileCompany } from './fuzz';
import { pagesOf, type HoldAt, type MomentSpec } from './moments';
import { leaks, Rig, secretsOf, type RunOutcome } from './rig';
import {
  assertHostileRecordsHandled,
  assertSameAsClean,
  dropStoreConnectionAt,
  killWorkerAt,
  luccaFaultsAtPages,
  pageMoments,
  randomInt,
  randomMoments,
  restartAt,
  slowPages,
  type Struck,
} from './scenarios';

const int = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected an integer >= 0');
  return n;
};

interface Options {
  size: number;
  pageSize: number;
  pageDelayMs: number;
  kills: number;
  rounds: number;
  downMs: number;
  fuzzRuns: number;
  fleet: boolean;
  companies: number;
  perTenant: number;
  cutMs: number;
  day: boolean;
  intervalMs: number;
  firings: number;
}

const program = new Command()
  .name('chaos')
  .description('Long reliability run: worker SIGKILLs, FerretDB and Temporal restarts, hostile data, secret scans.')
  .option('--size <n>', 'employees per company', int, 20_000)
  .option('--page-size <n>', 'Lucca page size the worker asks for', int, 500)
  .option('--page-delay-ms <n>', 'extra latency of every Lucca page', int, 200)
  .option('--kills <n>', 'SIGKILLs per run', int, 6)
  .option(
    '--rounds <n>',
    'runs per scenario (odd rounds hold store commands before the store, even ones after)',
    int,
    2,
  )
  .option('--down-ms <n>', 'how long a killed server stays down', int, 5_000)
  .option('--fuzz-runs <n>', 'hostile datasets', int, 10)
  .option('--fleet', 'fleet chaos instead: many companies syncing at once through faults (see fleet.ts)', false)
  .option('--companies <n>', 'fleet: companies (each of --size employees)', int, 50)
  .option('--per-tenant <n>', 'fleet: companies per Lucca tenant, on disjoint legal entities', int, 5)
  .option('--cut-ms <n>', 'fleet: how long the store is cut off', int, 30_000)
  .option(
    '--day',
    'a day of schedules instead: --companies on 4-hourly schedules, the day compressed (see day.ts)',
    false,
  )
  .option('--interval-ms <n>', "day: real time standing for the schedules' 4 hours", int, 60_000)
  .option('--firings <n>', 'day: firings of each schedule (6 make a day; the schedule remembers 10)', int, 6);

interface Check {
  name: string;
  ok: boolean;
  seconds: number;
  detail: string;
}

async function main(): Promise<number> {
  const opts = program.parse().opts<Options>();
  const checks: Check[] = [];
  const check = async (name: string, fn: () => Promise<string>) => {
    const started = performance.now();
    process.stderr.write(`… ${name}\n`);
    try {
      const detail = await fn();
      checks.push({ name, ok: true, seconds: (performance.now() - started) / 1000, detail });
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? ` (cause: ${err.cause.message})` : '';
      const detail = err instanceof Error ? err.message.split('\n').slice(0, 3).join(' ') + cause : String(err);
      checks.push({ name, ok: false, seconds: (performance.now() - started) / 1000, detail });
    }
    const last = checks.at(-1)!;
    process.stderr.write(`${last.ok ? 'PASS' : 'FAIL'} ${name} (${last.seconds.toFixed(0)} s) ${last.detail}\n`);
  };

  const startedAt = performance.now();
  const rig = await Rig.open({ pageSize: opts.pageSize });
  try {
    if (opts.fleet) {
      await check(`fleet of ${opts.companies} companies of ${opts.size} employees`, async () => {
        const report = await fleetChaos(rig, {
          companies: opts.companies,
          employees: opts.size,
          perTenant: opts.perTenant,
          rateLimit: LUCCA_RATE_LIMIT,
          pageDelayMs: opts.pageDelayMs,
          downMs: opts.downMs,
          cutMs: opts.cutMs,
          shutdownGraceMs: 10_000,
          waitMs: 3_600_000,
          log: (line) => process.stderr.write(`  ${line}\n`),
        });
        return (
          `clean pass ${report.cleanSeconds.toFixed(0)} s, faulty pass ${report.faultySeconds.toFixed(0)} s; ` +
          `${report.landed.join('; ')}; ${report.rateLimited} Lucca 429s; workers' RSS ` +
          `${Math.round(report.rssKb.after / 1024)} MB after, ${Math.round(report.rssKb.again / 1024)} MB after another pass`
        );
      });
      return report(checks, startedAt);
    }
    if (opts.day) {
      if (opts.firings < 3 || opts.firings > 10) throw new InvalidArgumentError('--firings: 3 to 10');
      await check(`a day of schedules: ${opts.companies} companies of ${opts.size} employees`, async () => {
        const day = await scheduleDay(rig, {
          companies: opts.companies,
          employees: opts.size,
          intervalMs: opts.intervalMs,
          firings: opts.firings,
          maxRunsPerExecution: 2,
          workers: 2,
          log: (line) => process.stderr.write(`  ${line}\n`),
        });
        return (
          `${day.firings} firings, ${day.runs} runs (each started at most ${day.latestStartMs} ms after its firing); ` +
          `${day.executions.min}–${day.executions.max} company workflow executions each, the longest history ` +
          `${day.longestHistory} events; sweep ${JSON.stringify(day.sweep)}; workers' RSS ` +
          `${day.rssKb.map((kb) => Math.round(kb / 1024)).join(', ')} MB`
        );
      });
      return report(checks, startedAt);
    }
    await rig.startWorker();
    const users = generateLuccaUsers({ size: opts.size, seed: 11, today: localDate() });
    const pages = pagesOf(opts.size, opts.pageSize);
    let clean!: RunOutcome;
    const referenceDb = rig.dbName;
    await check(`clean run of ${opts.size} employees`, async () => {
      clean = await rig.sync((await rig.addCompany(users)).companyId);
      if (clean.result.status !== 'succeeded') throw new Error(JSON.stringify(clean.result.error));
      return `${clean.result.profileWrites} profiles`;
    });
    /**
     * A fresh company of the same users through `scenario` (its pages slowed, unless the scenario
     * arms Lucca faults of its own first), in a database of its own; then as clean.
     */
    const faulty = (name: string, scenario: (companyId: string) => Promise<Struck>, slow = true) =>
      check(name, async () => {
        await rig.useFreshDatabase({ keepPrevious: rig.dbName === referenceDb });
        const { companyId } = await rig.addCompany(users);
        if (slow) slowPages(rig, companyId, opts.pageDelayMs);
        const { outcome, landed } = await scenario(companyId);
        try {
          await assertSameAsClean(rig, outcome, clean);
        } catch (err) {
          throw new Error(`${err instanceof Error ? err.message : String(err)} (struck at: ${landed.join('; ')})`);
        }
        return landed.join('; ');
      });

    for (let round = 1; round <= opts.rounds; round++) {
      const at: HoldAt = round % 2 === 1 ? 'request' : 'reply';
      const midPage = () => randomInt(1, pages - 2);
      const steps: [string, () => MomentSpec][] = [
        ['while a page is read', () => ({ kind: 'page-read', page: midPage() })],
        ['while a page is planned', () => ({ kind: 'page-planned', page: midPage(), at })],
        ["while a page's plan is stored", () => ({ kind: 'plan-stored', page: midPage(), at })],
        ["while the guard's verdict is recorded", () => ({ kind: 'verdict', at })],
        ['while applying', () => ({ kind: 'apply', batch: randomInt(1, 5), at })],
      ];

      await faulty(`round ${round}: ${opts.kills} SIGKILLs a few pages apart`, (companyId) =>
        killWorkerAt(rig, companyId, pageMoments(opts.kills, pages, 6)),
      );
      await faulty(`round ${round}: ${opts.kills} SIGKILLs at random moments (any activity)`, (companyId) =>
        killWorkerAt(rig, companyId, randomMoments(opts.kills, pages)),
      );
      for (const service of ['ferretdb', 'temporal'] as const) {
        for (const [when, spec] of steps) {
          await faulty(`round ${round}: ${service} killed and restarted ${when}`, (companyId) =>
            restartAt(rig, companyId, service, spec(), opts.downMs),
          );
        }
      }
      for (const [when, spec] of steps.slice(1, 4)) {
        await faulty(`round ${round}: the store connection cut ${when}`, (companyId) =>
          dropStoreConnectionAt(rig, companyId, spec()),
        );
      }
      await faulty(
        `round ${round}: Lucca faults at random pages`,
        (companyId) => luccaFaultsAtPages(rig, companyId, pages, opts.pageDelayMs),
        false,
      );
    }

    await check(`${opts.fuzzRuns} hostile datasets`, async () => {
      let seed = 0;
      await fc.assert(
        fc.asyncProperty(hostileCompany(100, 600), (hostile) => assertHostileRecordsHandled(rig, hostile)),
        { numRuns: opts.fuzzRuns, endOnFailure: true, reporter: (out) => (seed = out.seed) },
      );
      return `fast-check seed ${seed}`;
    });

    await check('no key, email or name in worker logs or Temporal histories', async () => {
      const secrets = secretsOf(rig.companies);
      const histories = await rig.allHistories();
      const leaked = [...leaks(rig.logLines, secrets), ...leaks(histories, secrets)];
      if (leaked.length) throw new Error(`leaked: ${leaked.length} values`);
      return `${secrets.length} values, ${rig.logLines.length} log lines, ${histories.length} histories`;
    });
  } finally {
    await rig.close();
  }
  return report(checks, startedAt);
}

/** Prints the command, the machine and a line per check; 0 when every check passed. */
function report(checks: Check[], startedAt: number): number {
  const cpus = os.cpus();
  process.stdout.write(
    `\nnpm run chaos -- ${process.argv.slice(2).join(' ')}\n` +
      `${new Date().toISOString()}, ${cpus.length} × ${cpus[0]?.model ?? 'CPU'}, ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GB, load ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}, ` +
      `Node ${process.version}; ${checks.filter((c) => c.ok).length} of ${checks.length} checks passed ` +
      `in ${((performance.now() - startedAt) / 60_000).toFixed(0)} min\n`,
  );
  process.stdout.write('\n| check | result | time | detail |\n| --- | --- | --- | --- |\n');
  for (const c of checks) {
    process.stdout.write(`| ${c.name} | ${c.ok ? 'pass' : 'FAIL'} | ${c.seconds.toFixed(0)} s | ${c.detail} |\n`);
  }
  return checks.every((c) => c.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
