import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { openSync, closeSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { MongoClient } from 'mongodb';
import { DATA_DIR, PROJECT_ROOT } from './paths';
import { ensureTool, FERRETDB, TEMPORAL_CLI } from './tools';

/**
 * The dev stack: the real Temporal dev server (with its Web UI), FerretDB (unless MONGODB_URI
 * points at a MongoDB of your own) and a fake Lucca tenant. Each runs detached, with its pid and
 * log under `.data/`, so `start` is idempotent and `stop` finds what an earlier `start` left.
 */
export const SEARCH_ATTRIBUTES = { CompanyId: 'Keyword', SyncTrigger: 'Keyword' } as const;

export interface StackSettings {
  temporalPort: number;
  temporalUiPort: number;
  ferretPort: number;
  fakeLuccaPort: number;
  /** Set when the operator brings their own MongoDB: no FerretDB is started. */
  externalMongoUri: string | null;
}

export function stackSettings(env: NodeJS.ProcessEnv = process.env): StackSettings {
  const port = (name: string, fallback: number) => {
    const value = env[name];
    if (value === undefined || value === '') return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${name} must be a TCP port, got "${value}"`);
    return n;
  };
  return {
    temporalPort: port('DEV_TEMPORAL_PORT', 7233),
    temporalUiPort: port('DEV_TEMPORAL_UI_PORT', 8233),
    ferretPort: port('FERRETDB_PORT', 27017),
    fakeLuccaPort: port('FAKE_LUCCA_PORT', 4010),
    externalMongoUri: env.MONGODB_URI ? env.MONGODB_URI : null,
  };
}

export const temporalAddress = (s: StackSettings) => `127.0.0.1:${s.temporalPort}`;
export const mongoUri = (s: StackSettings) => s.externalMongoUri ?? `mongodb://127.0.0.1:${s.ferretPort}`;
export const fakeLuccaUrl = (s: StackSettings) => `http://127.0.0.1:${s.fakeLuccaPort}`;
export const FAKE_LUCCA_TENANT = 'acme';
const FAKE_LUCCA_KEY_FILE = path.join(DATA_DIR, 'fake-lucca.key');

type ServiceName = 'temporal' | 'ferretdb' | 'fake-lucca';

interface Service {
  name: ServiceName;
  healthy(): Promise<boolean>;
  start(): Promise<void>;
}

const pidFile = (name: ServiceName) => path.join(DATA_DIR, 'run', `${name}.pid`);
export const logFile = (name: ServiceName) => path.join(DATA_DIR, 'logs', `${name}.log`);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function readPid(name: ServiceName): Promise<number | null> {
  const text = await readFile(pidFile(name), 'utf8').catch(() => null);
  const pid = text ? Number(text.trim()) : NaN;
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

async function spawnDetached(name: ServiceName, command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  await mkdir(path.dirname(pidFile(name)), { recursive: true });
  await mkdir(path.dirname(logFile(name)), { recursive: true });
  const fd = openSync(logFile(name), 'a');
  const child = spawn(command, args, {
    cwd: PROJECT_ROOT,
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...env },
  });
  closeSync(fd);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  child.unref();
  await writeFile(pidFile(name), `${child.pid}\n`);
  return child.pid!;
}

async function waitHealthy(service: Service, pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await service.healthy()) return;
    if (!isAlive(pid)) break;
    await sleep(250);
  }
  const log = await readFile(logFile(service.name), 'utf8').catch(() => '');
  const tail = log.split('\n').slice(-30).join('\n');
  throw new Error(
    `${service.name} did not become healthy (pid ${pid}, ${isAlive(pid) ? 'still running' : 'exited'}). Last lines of ${logFile(service.name)}:\n${tail}`,
  );
}

function temporalService(s: StackSettings): Service {
  return {
    name: 'temporal',
    async healthy() {
      let connection: Connection | undefined;
      try {
        connection = await Connection.connect({ address: temporalAddress(s), connectTimeout: 1000 });
        await connection.workflowService.getSystemInfo({});
        await ensureSearchAttributes(connection);
        return true;
      } catch {
        return false;
      } finally {
        await connection?.close();
      }
    },
    async start() {
      const bin = await ensureTool(TEMPORAL_CLI);
      await mkdir(DATA_DIR, { recursive: true });
      const args = [
        'server',
        'start-dev',
        '--db-filename',
        path.join(DATA_DIR, 'temporal.sqlite'),
        '--ip',
        '127.0.0.1',
        '--port',
        String(s.temporalPort),
        '--ui-port',
        String(s.temporalUiPort),
        '--log-level',
        'warn',
        ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, v]) => ['--search-attribute', `${k}=${v}`]),
      ];
      const pid = await spawnDetached('temporal', bin, args);
      await waitHealthy(this, pid, 60_000);
    },
  };
}

/** A server started elsewhere (or with an older SQLite file) may lack our search attributes. */
async function ensureSearchAttributes(connection: Connection, namespace = 'default'): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = Object.keys(SEARCH_ATTRIBUTES).filter((k) => !(k in (existing.customAttributes ?? {})));
  if (missing.length === 0) return;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((k) => [k, 2 /* INDEXED_VALUE_TYPE_KEYWORD */])),
  });
}

function ferretService(s: StackSettings): Service {
  return {
    name: 'ferretdb',
    async healthy() {
      const client = new MongoClient(mongoUri(s), { serverSelectionTimeoutMS: 1000, directConnection: true });
      try {
        await client.db('admin').command({ ping: 1 });
        return true;
      } catch {
        return false;
      } finally {
        await client.close();
      }
    },
    async start() {
      const bin = await ensureTool(FERRETDB);
      const dataDir = path.join(DATA_DIR, 'ferretdb');
      await mkdir(dataDir, { recursive: true });
      const pid = await spawnDetached('ferretdb', bin, [
        '--handler=sqlite',
        `--sqlite-url=file:${dataDir}/`,
        `--listen-addr=127.0.0.1:${s.ferretPort}`,
        `--state-dir=${dataDir}`,
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=warn',
      ]);
      await waitHealthy(this, pid, 30_000);
    },
  };
}

export async function fakeLuccaKey(): Promise<string> {
  const existing = await readFile(FAKE_LUCCA_KEY_FILE, 'utf8').catch(() => null);
  if (existing?.trim()) return existing.trim();
  const key = randomUUID().toUpperCase();
  await mkdir(DATA_DIR, { recursive: true });
  await writeFile(FAKE_LUCCA_KEY_FILE, `${key}\n`, { mode: 0o600 });
  return key;
}

function fakeLuccaService(s: StackSettings): Service {
  return {
    name: 'fake-lucca',
    async healthy() {
      try {
        const key = await fakeLuccaKey();
        const res = await fetch(`${fakeLuccaUrl(s)}/t/${FAKE_LUCCA_TENANT}/api/v3/users?paging=0,1`, {
          headers: { Authorization: `lucca application=${key}` },
          signal: AbortSignal.timeout(1000),
        });
        return res.ok;
      } catch {
        return false;
      }
    },
    async start() {
      const key = await fakeLuccaKey();
      const pid = await spawnDetached(
        'fake-lucca',
        process.execPath,
        [
          '--import',
          'tsx',
          path.join(PROJECT_ROOT, 'scripts', 'fake-lucca.ts'),
          '--port',
          String(s.fakeLuccaPort),
          '--tenant',
          FAKE_LUCCA_TENANT,
          '--size',
          '3000',
          '--seed',
          '42',
          '--api-key-env',
          'FAKE_LUCCA_API_KEY',
        ],
        { FAKE_LUCCA_API_KEY: key },
      );
      await waitHealthy(this, pid, 30_000);
    },
  };
}

function services(s: StackSettings, only?: ServiceName[]): Service[] {
  const all = [temporalService(s), ...(s.externalMongoUri ? [] : [ferretService(s)]), fakeLuccaService(s)];
  return only ? all.filter((svc) => only.includes(svc.name)) : all;
}

/** Starts what is not already answering; returns the names it started. */
export async function startStack(s = stackSettings(), only?: ServiceName[]): Promise<ServiceName[]> {
  const started: ServiceName[] = [];
  for (const service of services(s, only)) {
    if (await service.healthy()) continue;
    process.stderr.write(`Starting ${service.name}…\n`);
    await service.start();
    started.push(service.name);
  }
  return started;
}

export async function stopStack(only?: ServiceName[]): Promise<ServiceName[]> {
  const stopped: ServiceName[] = [];
  const names: ServiceName[] = only ?? ['fake-lucca', 'ferretdb', 'temporal'];
  for (const name of names) {
    const pid = await readPid(name);
    if (pid === null) continue;
    if (isAlive(pid)) {
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        process.kill(pid, 'SIGTERM');
      }
      const deadline = Date.now() + 15_000;
      while (isAlive(pid) && Date.now() < deadline) await sleep(100);
      if (isAlive(pid)) process.kill(-pid, 'SIGKILL');
      stopped.push(name);
    }
    await rm(pidFile(name), { force: true });
  }
  return stopped;
}

export async function stackStatus(s = stackSettings()): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const service of services(s)) {
    const pid = await readPid(service.name);
    const ours = pid !== null && isAlive(pid) ? `pid ${pid}` : 'not started by dev-stack';
    result[service.name] = `${(await service.healthy()) ? 'healthy' : 'down'} (${ours})`;
  }
  return result;
}
