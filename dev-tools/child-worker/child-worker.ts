import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../workers/worker';
import type { CommandCounts } from '../bench/command-counter';
import { PROJECT_ROOT } from '../stack/paths';

/** Lines `worker-process.ts` logs: ready to poll, and its peak memory on a clean exit. */
export const WORKER_READY = 'worker-process ready';
export const WORKER_EXIT = 'worker-process exit';
export const WORKER_COMMAND_COUNTS = 'worker-process command counts';

const ENTRY = path.join(PROJECT_ROOT, 'dev-tools', 'child-worker', 'worker-process.ts');

/**
 * How `npm run worker` starts the worker (package.json's `worker` script: the environment
 * settings before `node`, the Node flags before `--import`), so that a child worker runs, and is
 * measured, as the real one does.
 */
async function workerLaunch(): Promise<{ env: Record<string, string>; flags: string[] }> {
  const pkg = JSON.parse(await readFile(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const words = pkg.scripts.worker!.split(/\s+/);
  const node = words.indexOf('node');
  const importAt = words.indexOf('--import');
  const settings = words.slice(0, Math.max(node, 0)).map((w) => w.split('=') as [string, string]);
  if (node < 0 || importAt < node || settings.some((s) => s.length !== 2)) {
    throw new Error(
      `package.json's worker script is not "[NAME=value …] node <flags> --import …": ${pkg.scripts.worker}`,
    );
  }
  return { env: Object.fromEntries(settings), flags: words.slice(node + 1, importAt) };
}

/**
 * Bundles the workflows once and writes the code to a file the child workers load; under
 * `run-stack-tests.ts`, copies the bundle it made for the whole suite (TEST_WORKFLOW_BUNDLE).
 */
export async function writeWorkflowBundle(file: string): Promise<string> {
  const suiteBundle = process.env.TEST_WORKFLOW_BUNDLE;
  const code = suiteBundle
    ? await readFile(suiteBundle, 'utf8')
    : (await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') })).code;
  await writeFile(file, code);
  return file;
}

export interface ChildWorkerOptions {
  temporalAddress: string;
  mongoUri: string;
  mongoDb: string;
  taskQueue: string;
  secret: string;
  /** LUCCA_ALLOWED_HOSTS; default any port on 127.0.0.1 (where the fake Lucca listens). */
  allowedHosts?: string;
  bundlePath: string;
  /** `off` or e.g. `50/60s`; default off. */
  rateLimit?: string;
  pageSize?: number;
  logLevel?: string;
  /** Every line the process writes (stdout and stderr), as it comes. */
  onLine?: (line: string) => void;
  /** Count the worker's MongoDB commands (see `commandCounts`). */
  countCommands?: boolean;
  /** The worker's shutdown grace time (WORKER_SHUTDOWN_GRACE_MS); default the production one. */
  shutdownGraceMs?: number;
  /** WORKER_METRICS_ADDRESS and WORKER_HEALTH_ADDRESS (e.g. `127.0.0.1:<port>`); off by default. */
  metricsAddress?: string;
  healthAddress?: string;
}

/** A worker in a child process: killable for real, and measurable (peak RSS). */
export class ChildWorker {
  private readonly lines: string[] = [];
  private readonly countWaiters: ((line: string) => void)[] = [];
  private exitCode: number | null | undefined;
  /** When `kill` sent SIGKILL (epoch ms), null before. */
  killedAt: number | null = null;
  private exitSignal: NodeJS.Signals | null = null;
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      }),
    );
  }

  static async start(opts: ChildWorkerOptions, readyTimeoutMs = 60_000): Promise<ChildWorker> {
    const launch = await workerLaunch();
    const child = spawn(process.execPath, [...launch.flags, '--import', 'tsx', ENTRY], {
      cwd: PROJECT_ROOT,
      stdio: [opts.countCommands ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ...launch.env,
        TEMPORAL_ADDRESS: opts.temporalAddress,
        TEMPORAL_NAMESPACE: 'default',
        MONGODB_URI: opts.mongoUri,
        MONGODB_DB: opts.mongoDb,
        TASK_QUEUE: opts.taskQueue,
        LUCCA_SYNC_SECRET: opts.secret,
        LUCCA_SYNC_SECRETS: '',
        LUCCA_ALLOWED_HOSTS: opts.allowedHosts ?? 'http://127.0.0.1:*',
        LUCCA_RATE_LIMIT: opts.rateLimit ?? 'off',
        LOG_LEVEL: opts.logLevel ?? 'info',
        WORKFLOW_BUNDLE_PATH: opts.bundlePath,
        // Off unless asked, whatever the parent's environment says: child workers run side by side.
        WORKER_METRICS_ADDRESS: opts.metricsAddress ?? '',
        WORKER_HEALTH_ADDRESS: opts.healthAddress ?? '',
        ...(opts.pageSize ? { LUCCA_PAGE_SIZE: String(opts.pageSize) } : {}),
        ...(opts.countCommands ? { COUNT_COMMANDS: '1' } : {}),
        ...(opts.shutdownGraceMs ? { WORKER_SHUTDOWN_GRACE_MS: String(opts.shutdownGraceMs) } : {}),
      },
    });
    const worker = new ChildWorker(child);
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`worker not ready in ${readyTimeoutMs} ms:\n${worker.lines.slice(-20).join('\n')}`));
      }, readyTimeoutMs);
      const onText = (stream: NodeJS.ReadableStream) => {
        let rest = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          const parts = (rest + chunk).split('\n');
          rest = parts.pop() ?? '';
          for (const line of parts) {
            worker.lines.push(line);
            opts.onLine?.(line);
            if (line.includes(WORKER_COMMAND_COUNTS)) worker.countWaiters.shift()?.(line);
            if (line.includes(WORKER_READY)) {
              clearTimeout(timer);
              resolve();
            }
          }
        });
      };
      onText(child.stdout!);
      onText(child.stderr!);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`worker exited (${code}) before it was ready:\n${worker.lines.slice(-20).join('\n')}`));
      });
    });
    await ready;
    return worker;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get output(): readonly string[] {
    return this.lines;
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  /** How the process ended (null while it runs): its exit code, or the signal that killed it. */
  get exit(): { code: number | null; signal: NodeJS.Signals | null } | null {
    return this.exitCode === undefined ? null : { code: this.exitCode, signal: this.exitSignal };
  }

  /** Peak resident memory so far (VmHWM), in kilobytes; null once the process is gone. */
  async peakRssKb(): Promise<number | null> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8').catch(() => null);
    const match = status ? /^VmHWM:\s+(\d+)\s+kB/m.exec(status) : null;
    return match ? Number(match[1]) : null;
  }

  /** The MongoDB commands the worker sent so far (started with `countCommands`). */
  async commandCounts(): Promise<CommandCounts> {
    const line = new Promise<string>((resolve) => this.countWaiters.push(resolve));
    this.child.stdin?.write('counts\n');
    const { commands, written, returned } = JSON.parse(await line) as CommandCounts;
    return { commands, written, returned };
  }

  /** Kills the process outright: no shutdown, no last heartbeat — a crashed host. */
  async kill(): Promise<void> {
    if (this.alive) {
      this.killedAt = Date.now();
      this.child.kill('SIGKILL');
    }
    await this.exited;
  }

  /** Graceful stop; resolves with the peak RSS the process reported on its way out (kB). */
  async stop(timeoutMs = 30_000): Promise<number | null> {
    if (this.alive) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
    const exit = this.lines.find((l) => l.includes(WORKER_EXIT));
    if (!exit) return null;
    try {
      return (JSON.parse(exit) as { maxRssKb?: number }).maxRssKb ?? null;
    } catch {
      return null;
    }
  }
}
