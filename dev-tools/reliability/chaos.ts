// `npm run chaos`: the reliability scenarios of test/integration/reliability.test.ts, bigger and
// longer — more employees, more pages, more kills at truly random moments, outages in every phase,
// more hostile datasets — on a private Temporal dev server and FerretDB. Prints one line per check.
import { performance } from 'node:perf_hooks';
import { Command, InvalidArgumentError } from 'commander';
import fc from 'fast-check';
import { generateLuccaUsers } from '../fake-lucca';
import { localDate } from '../fake-lucca/dates';
import { hostileCompany } from './fuzz';
import { leaks, Rig, secretsOf, type RunOutcome } from './rig';
import {
  assertHostileRecordsHandled,
  assertSameAsClean,
  killAtRandomMoments,
  killWorkerRepeatedly,
  restartMidRun,
  runIdOf,
  slowPages,
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
  fuzzRuns: number;
}

const program = new Command()
  .name('chaos')
  .description('Long reliability run: worker SIGKILLs, FerretDB and Temporal restarts, hostile data, secret scans.')
  .option('--size <n>', 'employees per company', int, 20_000)
  .option('--page-size <n>', 'Lucca page size the worker asks for', int, 500)
  .option('--page-delay-ms <n>', 'extra latency of every Lucca page', int, 200)
  .option('--kills <n>', 'SIGKILLs per run', int, 6)
  .option('--rounds <n>', 'runs per scenario', int, 2)
  .option('--fuzz-runs <n>', 'hostile datasets', int, 10);

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
      const detail = err instanceof Error ? err.message.split('\n').slice(0, 3).join(' ') : String(err);
      checks.push({ name, ok: false, seconds: (performance.now() - started) / 1000, detail });
    }
    const last = checks.at(-1)!;
    process.stderr.write(`${last.ok ? 'PASS' : 'FAIL'} ${name} (${last.seconds.toFixed(0)} s) ${last.detail}\n`);
  };

  const rig = await Rig.open({ pageSize: opts.pageSize });
  try {
    await rig.startWorker();
    const users = generateLuccaUsers({ size: opts.size, seed: 11, today: localDate() });
    let clean!: RunOutcome;
    await check(`clean run of ${opts.size} employees`, async () => {
      clean = await rig.sync((await rig.addCompany(users)).companyId);
      if (clean.result.status !== 'succeeded') throw new Error(JSON.stringify(clean.result.error));
      return `${clean.result.profileWrites} profiles`;
    });

    for (let round = 1; round <= opts.rounds; round++) {
      await check(`round ${round}: ${opts.kills} SIGKILLs a few pages apart`, async () => {
        const company = await rig.addCompany(users);
        slowPages(rig, company, opts.pageDelayMs);
        const handle = await rig.startRun(company.companyId);
        const kills = await killWorkerRepeatedly(rig, runIdOf(handle), opts.kills, 6);
        await assertSameAsClean(rig, await rig.outcome(handle, company.companyId), clean);
        return `kills at ${kills.join(', ')}`;
      });
      await check(`round ${round}: ${opts.kills} SIGKILLs at random moments (any activity)`, async () => {
        const company = await rig.addCompany(users);
        slowPages(rig, company, opts.pageDelayMs);
        const handle = await rig.startRun(company.companyId);
        const kills = await killAtRandomMoments(rig, runIdOf(handle), opts.kills, 15_000);
        await assertSameAsClean(rig, await rig.outcome(handle, company.companyId), clean);
        return `kills at ${kills.join(', ') || 'none (the run finished first)'}`;
      });
      for (const service of ['ferretdb', 'temporal'] as const) {
        for (const phase of ['reading', 'planning', 'applying'] as const) {
          await check(`round ${round}: ${service} killed and restarted while ${phase}`, async () => {
            const company = await rig.addCompany(users);
            slowPages(rig, company, opts.pageDelayMs);
            await rig.ensureWorker();
            const handle = await rig.startRun(company.companyId);
            await restartMidRun(rig, runIdOf(handle), service, {
              afterPages: 3,
              downMs: 5_000,
              ...(phase === 'reading' ? {} : { phase }),
            });
            await assertSameAsClean(rig, await rig.outcome(handle, company.companyId), clean);
            return '';
          });
        }
      }
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
