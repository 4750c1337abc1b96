import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { freePort } from './ports';
import {
  createFerretDatabase,
  ferretStorageArgs,
  goServerEnv,
  initPostgresCluster,
  mongoAnswers,
  postgresArgs,
  postgresBinDir,
  postgresReady,
  postgresUser,
  searchAttributeFlags,
  storeEngine,
} from './stack';
import { ensureTool, FERRETDB, TEMPORAL_CLI } from './tools';

class ManagedProcess {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  readonly log: string[] = [];
  /** When `stop` last sent its signal (epoch ms): when a fault on this server began. */
  signalledAt: number | null = null;

  constructor(
    readonly name: string,
    private readonly command: () => Promise<{
      bin: string;
      args: string[];
      env?: NodeJS.ProcessEnv;
      user?: { uid: number; gid: number };
    }>,
    private readonly healthy: () => Promise<boolean>,
  ) {}

  get running(): boolean {
    return this.child !== null;
  }

  async start(timeoutMs = 90_000): Promise<void> {
    if (this.child) return;
    const { bin, args, env, user } = await this.command();
    const child = spawn(bin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
      ...(user ?? {}),
    });
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        this.log.push(chunk);
        if (this.log.length > 200) this.log.shift();
      });
    }
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        if (this.child === child) this.child = null;
        resolve();
      }),
    );
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.healthy()) return;
      if (!this.child) break;
      await sleep(200);
    }
    // A Go server that fails to start often logs why, then panics on it: the why first, then the end.
    const log = this.log.join('');
    const why = log.search(/^.*(error|panic|fatal)/im);
    const first = why >= 0 && why < log.length - 3000 ? `${log.slice(why, why + 1500)}\n…\n` : '';
    throw new Error(`${this.name} did not become healthy:\n${first}${log.slice(-3000)}`);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.signalledAt = Date.now();
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export interface PrivateStack {
  temporalAddress: string;
  mongoUri: string;
  temporal: ManagedProcess;
  /**
   * What a store fault kills and restarts. On the PostgreSQL engine the PostgreSQL server under it
   * stays up through such a restart, as a managed database would: only `stop` stops it.
   */
  ferretdb: ManagedProcess;
  stop(): Promise<void>;
}

/**
 * Temporal and FerretDB of their own in `dir`, on free ports. FerretDB runs on the engine the dev
 * stack would use (`DEV_STORE_ENGINE`): SQLite files, or a PostgreSQL cluster of its own in `dir`.
 */
export async function startPrivateStack(dir: string): Promise<PrivateStack> {
  const engine = storeEngine(process.env.DEV_STORE_ENGINE);
  await mkdir(path.join(dir, 'ferretdb'), { recursive: true });
  const [temporalPort, uiPort, ferretPort] = [await freePort(), await freePort(), await freePort()];
  const temporalAddress = `127.0.0.1:${temporalPort}`;
  const mongoUri = `mongodb://127.0.0.1:${ferretPort}`;
  const postgresDir = path.join(dir, 'postgres');
  const postgresPort = engine === 'postgresql' ? await freePort() : 0;

  const temporal = new ManagedProcess(
    'temporal',
    async () => ({
      bin: await ensureTool(TEMPORAL_CLI),
      env: goServerEnv(),
      args: [
        'server',
        'start-dev',
        '--db-filename',
        path.join(dir, 'temporal.sqlite'),
        '--ip',
        '127.0.0.1',
        '--port',
        String(temporalPort),
        '--ui-port',
        String(uiPort),
        '--headless',
        '--log-level',
        'error',
        ...searchAttributeFlags(),
      ],
    }),
    async () => {
      let connection: Connection | undefined;
      try {
        connection = await Connection.connect({ address: temporalAddress, connectTimeout: 1000 });
        await connection.workflowService.getSystemInfo({});
        return true;
      } catch {
        return false;
      } finally {
        await connection?.close();
      }
    },
  );
  const ferretdb = new ManagedProcess(
    'ferretdb',
    async () => ({
      bin: await ensureTool(FERRETDB),
      env: goServerEnv(),
      args: [
        ...ferretStorageArgs(engine, path.join(dir, 'ferretdb'), postgresPort),
        `--listen-addr=127.0.0.1:${ferretPort}`,
        `--state-dir=${path.join(dir, 'ferretdb')}`,
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=error',
      ],
    }),
    () => mongoAnswers(mongoUri),
  );
  const postgres =
    engine === 'postgresql'
      ? new ManagedProcess(
          'postgres',
          async () => ({
            bin: path.join(postgresBinDir(), 'postgres'),
            args: postgresArgs(postgresDir, postgresPort),
            user: postgresUser(),
          }),
          async () => postgresReady(postgresPort),
        )
      : null;
  const stop = async () => {
    await Promise.all([temporal.stop(), ferretdb.stop()]);
    // PostgreSQL's SIGTERM waits for every client to leave; SIGINT is its fast, clean shutdown.
    await postgres?.stop('SIGINT');
  };
  const startStore = async () => {
    if (postgres) {
      // The cluster's owner (the `postgres` user, when root) must reach it inside this private dir.
      if (postgresUser()) await chmod(dir, 0o711);
      await initPostgresCluster(postgresDir);
      await postgres.start();
      createFerretDatabase(postgresPort);
    }
    await ferretdb.start();
  };
  // Both settled before stopping, so that nothing starts after the stop of a failed start.
  const failed = (await Promise.allSettled([temporal.start(), startStore()])).find((r) => r.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { temporalAddress, mongoUri, temporal, ferretdb, stop };
}
