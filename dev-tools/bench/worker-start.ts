// `npm run bench:worker-start [-- --runs N]`: how long a worker takes from its spawn to polling its
// task queue, run from source (`npm run worker`: tsx compiles TypeScript on the fly and webpack
// bundles the workflows at every start) and built (`npm start`: the compiled JavaScript and the
// bundle `npm run build` made), in turns, on the dev stack (`npm run dev:stack -- start`). Needs
// `npm run build` first. Prints each run and the medians.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { sweepScheduleId } from '../../temporal/ids';
import { PROJECT_ROOT } from '../stack/paths';
import { mongoUri, stackSettings, temporalAddress } from '../stack/stack';

const LAUNCHES = {
  source: ['--max-old-space-size=1024', '--import', 'tsx', 'workers/start.ts'],
  built: ['--max-old-space-size=1024', '--enable-source-maps', 'dist/workers/start.js'],
} as const;
type Launch = keyof typeof LAUNCHES;

/** Milliseconds from spawn to the worker's "Worker started" line (logged as it starts polling); then stops it. */
function timeStart(launch: Launch, env: NodeJS.ProcessEnv): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, LAUNCHES[launch], {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the ${launch} worker did not start within 5 minutes: ${output}`));
    }, 300_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      if (!output.includes('"Worker started"')) return;
      const ms = performance.now() - started;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.once('close', () => resolve(ms));
      child.kill('SIGTERM');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('close', (code) => {
      clearTimeout(timer);
      if (!output.includes('"Worker started"')) reject(new Error(`the ${launch} worker exited (${code}): ${output}`));
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
  const runs = Number(values.runs);
  if (!existsSync(`${PROJECT_ROOT}/dist/workers/start.js`))
    throw new Error('No build in dist/: run npm run build first');
  const s = stackSettings();
  const taskQueue = `bench-worker-start-${process.pid}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    MALLOC_ARENA_MAX: '2',
    TEMPORAL_ADDRESS: temporalAddress(s),
    MONGODB_URI: mongoUri(s),
    MONGODB_DB: 'bench_worker_start',
    TASK_QUEUE: taskQueue,
    LUCCA_SYNC_SECRET: 'bench-worker-start-secret-0123456789abcdef',
    LOG_LEVEL: 'info',
  };
  const times: Record<Launch, number[]> = { source: [], built: [] };
  try {
    for (let i = 0; i < runs; i++) {
      // Side by side, in turns: whatever load the machine has weighs on both alike.
      for (const launch of ['source', 'built'] as const) {
        const ms = await timeStart(launch, env);
        times[launch].push(ms);
        console.log(`run ${i + 1} ${launch}: ${(ms / 1000).toFixed(2)} s`);
      }
    }
  } finally {
    const connection = await Connection.connect({ address: temporalAddress(s) });
    await new Client({ connection }).schedule
      .getHandle(sweepScheduleId(taskQueue))
      .delete()
      .catch(() => undefined);
    await connection.close();
  }
  for (const launch of ['source', 'built'] as const) {
    const all = times[launch].map((ms) => (ms / 1000).toFixed(2)).join(', ');
    console.log(`${launch}: median ${(median(times[launch]) / 1000).toFixed(2)} s over ${runs} starts (${all})`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
