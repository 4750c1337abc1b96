import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { freePort } from './ports';
import { mongoAnswers, searchAttributeFlags } from './stack';
import { ensureTool, FERRETDB, TEMPORAL_CLI } from './tools';

class ManagedProcess {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  readonly log: string[] = [];
  /** When `stop` last sent its signal (epoch ms): when a fault on this server began. */
  signalledAt: number | null = null;

  constructor(
    readonly name: string,
    private readonly command: () => Promise<{ bin: string; args: string[] }>,
    private readonly healthy: () => Promise<boolean>,
  ) {}

  get running(): boolean {
    return this.child !== null;
  }

  async start(timeoutMs = 90_000): Promise<void> {
    if (this.child) return;
    const { bin, args } = await this.command();
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
    throw new Error(`${this.name} did not become healthy:\n${this.log.join('').slice(-3000)}`);
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
  ferretdb: ManagedProcess;
  stop(): Promise<void>;
}

export async function startPrivateStack(dir: string): Promise<PrivateStack> {
  await mkdir(path.join(dir, 'ferretdb'), { recursive: true });
  const [temporalPort, uiPort, ferretPort] = [await freePort(), await freePort(), await freePort()];
  const temporalAddress = `127.0.0.1:${temporalPort}`;
  const mongoUri = `mongodb://127.0.0.1:${ferretPort}`;

  const temporal = new ManagedProcess(
    'temporal',
    async () => ({
      bin: await ensureTool(TEMPORAL_CLI),
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
      args: [
        '--handler=sqlite',
        `--sqlite-url=file:${path.join(dir, 'ferretdb')}/`,
        `--listen-addr=127.0.0.1:${ferretPort}`,
        `--state-dir=${path.join(dir, 'ferretdb')}`,
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=error',
      ],
    }),
    () => mongoAnswers(mongoUri),
  );
  await Promise.all([temporal.start(), ferretdb.start()]);
  return {
    temporalAddress,
    mongoUri,
    temporal,
    ferretdb,
    async stop() {
      await Promise.all([temporal.stop(), ferretdb.stop()]);
    },
  };
}
