import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from '../stack/paths';
import { localDate } from './dates';

export interface FakeLuccaArgs {
  /** 0: any free port (the process prints its tenant's URL). */
  port: number;
  tenant: string;
  size: number;
  seed: number;
  /** The dataset's today (YYYY-MM-DD); the fake's own clock when absent. */
  today?: string;
  /** The environment variable holding the tenant's API key. */
  apiKeyEnv: string;
  /** Lucca's 50 requests a minute (default on). */
  rateLimit?: boolean;
}

/** Node's arguments that start the standalone fake Lucca (`main.ts`): the dev stack's and the benchmark's. */
export function fakeLuccaArgs(o: FakeLuccaArgs): string[] {
  return [
    '--import',
    'tsx',
    path.join(PROJECT_ROOT, 'dev-tools', 'fake-lucca', 'main.ts'),
    '--port',
    String(o.port),
    '--tenant',
    o.tenant,
    '--size',
    String(o.size),
    '--seed',
    String(o.seed),
    ...(o.today ? ['--today', o.today] : []),
    '--api-key-env',
    o.apiKeyEnv,
    ...(o.rateLimit === false ? ['--no-rate-limit'] : []),
  ];
}

/** The fake Lucca as its own process (dev-tools/fake-lucca/main.ts), driven over /__fake. */
export class FakeLuccaProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly origin: string,
    readonly tenantUrl: string,
  ) {}

  static async start(opts: { size: number; seed: number; apiKey: string; rateLimit: boolean }) {
    const child = spawn(
      process.execPath,
      fakeLuccaArgs({
        port: 0,
        tenant: 'bench',
        size: opts.size,
        seed: opts.seed,
        today: localDate(),
        apiKeyEnv: 'BENCH_LUCCA_KEY',
        rateLimit: opts.rateLimit,
      }),
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
