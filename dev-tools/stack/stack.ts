import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chownSync, existsSync, openSync, closeSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { MongoClient } from 'mongodb';
import { ensureSearchAttributes } from '../../temporal/client';
import { SEARCH_ATTRIBUTES } from '../../temporal/search-attributes';
import { fakeLuccaArgs } from '../fake-lucca/process';
import { DATA_DIR, PROJECT_ROOT } from './paths';
import { ensureTool, FERRETDB, TEMPORAL_CLI } from './tools';

/**
 * The dev stack: the real Temporal dev server (with its Web UI), FerretDB (unless MONGODB_URI
 * points at a MongoDB of your own) and a fake Lucca tenant. Each runs detached, with its pid and
 * log under `.data/`, so `start` is idempotent and `stop` finds what an earlier `start` left.
 */
/** The workflows' search attributes as `temporal server start-dev --search-attribute` flags. */
export const searchAttributeFlags = (): string[] =>
  Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => [
    '--search-attribute',
    `${name}=${type.charAt(0)}${type.slice(1).toLowerCase()}`,
  ]);

/**
 * FerretDB's storage engine: SQLite (zero install, the default) or PostgreSQL (Debian's package,
 * installed on first use; far cheaper per update at scale — see docs/benchmarks.md).
 */
export type StoreEngine = 'sqlite' | 'postgresql';
export const STORE_ENGINES: readonly StoreEngine[] = ['sqlite', 'postgresql'];

export interface StackSettings {
  temporalPort: number;
  temporalUiPort: number;
  ferretPort: number;
  fakeLuccaPort: number;
  /** The PostgreSQL server under FerretDB when `engine` is postgresql. */
  postgresPort: number;
  engine: StoreEngine;
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
    postgresPort: port('DEV_POSTGRES_PORT', 54329),
    engine: storeEngine(env.DEV_STORE_ENGINE),
    externalMongoUri: env.MONGODB_URI ? env.MONGODB_URI : null,
  };
}

export function storeEngine(value: string | undefined): StoreEngine {
  if (value === undefined || value === '') return 'sqlite';
  if ((STORE_ENGINES as readonly string[]).includes(value)) return value as StoreEngine;
  throw new Error(`DEV_STORE_ENGINE must be one of ${STORE_ENGINES.join(', ')}, got "${value}"`);
}

export const temporalAddress = (s: StackSettings) => `127.0.0.1:${s.temporalPort}`;
export const mongoUri = (s: StackSettings) => s.externalMongoUri ?? `mongodb://127.0.0.1:${s.ferretPort}`;
export const fakeLuccaUrl = (s: StackSettings) => `http://127.0.0.1:${s.fakeLuccaPort}`;
export const FAKE_LUCCA_TENANT = 'acme';
const FAKE_LUCCA_KEY_FILE = path.join(DATA_DIR, 'fake-lucca.key');

type ServiceName = 'temporal' | 'ferretdb' | 'postgres' | 'fake-lucca';

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

export async function readPid(name: ServiceName): Promise<number | null> {
  const text = await readFile(pidFile(name), 'utf8').catch(() => null);
  const pid = text ? Number(text.trim()) : NaN;
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

async function spawnDetached(
  name: ServiceName,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  user?: { uid: number; gid: number },
) {
  await mkdir(path.dirname(pidFile(name)), { recursive: true });
  await mkdir(path.dirname(logFile(name)), { recursive: true });
  const fd = openSync(logFile(name), 'a');
  const child = spawn(command, args, {
    cwd: PROJECT_ROOT,
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...env },
    ...(user ?? {}),
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

/**
 * How long a service may take to answer after it is started. A first start on a fresh clone
 * creates its database (Temporal migrates its schema, PostgreSQL initialises), which on two busy
 * cores took over a minute: the wait allows five by default (DEV_STACK_START_TIMEOUT_MS), and
 * stops at once if the process exits.
 */
const START_TIMEOUT_MS = Number(process.env.DEV_STACK_START_TIMEOUT_MS) || 300_000;
const PROGRESS_EVERY_MS = 10_000;

/** Waits for a started service to answer, saying every 10 s that it is still waiting. */
export async function waitHealthy(
  service: Pick<Service, 'name' | 'healthy'>,
  pid: number,
  opts: { timeoutMs?: number; progressEveryMs?: number; log?: (line: string) => void; logFile?: string } = {},
): Promise<void> {
  const { timeoutMs = START_TIMEOUT_MS, progressEveryMs = PROGRESS_EVERY_MS } = opts;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const started = Date.now();
  let nextProgress = started + progressEveryMs;
  while (Date.now() - started < timeoutMs) {
    if (await service.healthy()) return;
    if (!isAlive(pid)) break;
    if (Date.now() >= nextProgress) {
      log(
        `  …still waiting for ${service.name} (${Math.round((Date.now() - started) / 1000)} s; a first start sets up its database, which takes longer on a busy machine)`,
      );
      nextProgress += progressEveryMs;
    }
    await sleep(250);
  }
  const file = opts.logFile ?? logFile(service.name);
  const tail = (await readFile(file, 'utf8').catch(() => '')).split('\n').slice(-30).join('\n');
  throw new Error(
    `${service.name} did not become healthy within ${Math.round(timeoutMs / 1000)} s (pid ${pid}, ${isAlive(pid) ? 'still running: set DEV_STACK_START_TIMEOUT_MS to wait longer' : 'exited'}). Last lines of ${file}:\n${tail}`,
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
        ...searchAttributeFlags(),
      ];
      const pid = await spawnDetached('temporal', bin, args, goServerEnv());
      await waitHealthy(this, pid);
    },
  };
}

/** Whether a MongoDB-protocol server answers a ping at `uri` within a second. */
export async function mongoAnswers(uri: string): Promise<boolean> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 1000, directConnection: true });
  try {
    await client.db('admin').command({ ping: 1 });
    return true;
  } catch {
    return false;
  } finally {
    await client.close();
  }
}

function ferretService(s: StackSettings): Service {
  return {
    name: 'ferretdb',
    healthy: () => mongoAnswers(mongoUri(s)),
    async start() {
      const bin = await ensureTool(FERRETDB);
      const dataDir = path.join(DATA_DIR, s.engine === 'sqlite' ? 'ferretdb' : 'ferretdb-postgresql');
      await mkdir(dataDir, { recursive: true });
      if (s.engine === 'postgresql') await startIfDown(postgresService(s));
      const pid = await spawnDetached(
        'ferretdb',
        bin,
        [
          ...ferretStorageArgs(s.engine, dataDir, s.postgresPort),
          `--listen-addr=127.0.0.1:${s.ferretPort}`,
          `--state-dir=${dataDir}`,
          '--debug-addr=-',
          '--telemetry=disable',
          '--log-level=warn',
        ],
        goServerEnv(),
      );
      await writeFile(enginePath, `${s.engine}\n`);
      await waitHealthy(this, pid);
    },
  };
}

/**
 * FerretDB's storage flags: SQLite files in `dataDir`, or the `ferretdb` database of the PostgreSQL
 * on `postgresPort`. An `insertMany` goes to SQL as one transaction per `INSERT_BATCH` documents
 * (FerretDB's default, 100, made a company's first sync commit ten times per page of creates).
 */
export function ferretStorageArgs(engine: StoreEngine, dataDir: string, postgresPort: number): string[] {
  const batch = `--test-batch-size=${INSERT_BATCH}`;
  return engine === 'sqlite'
    ? ['--handler=sqlite', `--sqlite-url=file:${dataDir}/`, batch]
    : [
        batch,
        '--handler=postgresql',
        // FerretDB holds a pooled connection per open cursor and per update statement of a
        // command; pgx's default pool (50) would be the cliff. PostgreSQL allows 300.
        `--postgresql-url=postgres://postgres@127.0.0.1:${postgresPort}/ferretdb?pool_max_conns=200`,
      ];
}

/**
 * The Go runtime of the stack's servers (Temporal, FerretDB): a garbage collection when the heap
 * has grown by 400 % instead of Go's 100 %. FerretDB on SQLite decodes every document of a
 * collection for a filter it cannot push to SQL, and much of that time went to collecting what the
 * decoding left (the store-capabilities test's deletes: 69 s with Go's default, 49 s with 400;
 * docs/development.md). A soft memory limit keeps the larger heap from growing without bound.
 * Either is left alone when already set in the environment.
 */
export function goServerEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { GOGC: env.GOGC ?? '400', GOMEMLIMIT: env.GOMEMLIMIT ?? '2GiB' };
}

/**
 * Documents per SQL insert. One variable a document in either engine's statement (SQLite allows
 * 32,766, PostgreSQL 65,535); the profile inserts of a sync send up to a page (1,000) a command.
 */
export const INSERT_BATCH = 1000;

/** Which engine the running FerretDB was started with, so a switch of engine is not silently ignored. */
const enginePath = path.join(DATA_DIR, 'run', 'ferretdb.engine');

/** The cluster lives in `.data/postgres`, run as the `postgres` user when this process is root. */
function postgresService(s: StackSettings): Service {
  const dataDir = path.join(DATA_DIR, 'postgres');
  return {
    name: 'postgres',
    healthy: async () => postgresReady(s.postgresPort),
    async start() {
      if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
        process.stderr.write(`Initialising a PostgreSQL cluster in ${dataDir}…\n`);
      }
      await initPostgresCluster(dataDir);
      const pid = await spawnDetached(
        'postgres',
        path.join(postgresBinDir(), 'postgres'),
        postgresArgs(dataDir, s.postgresPort),
        {},
        postgresUser(),
      );
      await waitHealthy(this, pid);
      createFerretDatabase(s.postgresPort);
    },
  };
}

/** Whether the PostgreSQL on 127.0.0.1:`port` accepts connections. */
export function postgresReady(port: number): boolean {
  const ready = spawnSync(path.join(postgresBinDir(), 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)], {
    stdio: 'ignore',
  });
  return ready.status === 0;
}

/** Creates a cluster in `dataDir` (owned by the `postgres` user when root) unless one is there. */
export async function initPostgresCluster(dataDir: string): Promise<void> {
  const user = postgresUser();
  await mkdir(dataDir, { recursive: true });
  if (user) chownSync(dataDir, user.uid, user.gid);
  if (existsSync(path.join(dataDir, 'PG_VERSION'))) return;
  execFileSync(
    path.join(postgresBinDir(), 'initdb'),
    ['-D', dataDir, '-E', 'UTF8', '--locale=C.UTF-8', '-A', 'trust', '-U', 'postgres'],
    { stdio: ['ignore', 'ignore', 'inherit'], ...(user ?? {}) },
  );
}

/** The `postgres` server's arguments: the cluster in `dataDir`, its socket there too, on 127.0.0.1:`port`. */
export function postgresArgs(dataDir: string, port: number): string[] {
  return [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-k',
    dataDir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'max_connections=300',
  ];
}

/** How long `createFerretDatabase` waits for each of its PostgreSQL commands. */
const PSQL_TIMEOUT_MS = 10 * 60_000;

/**
 * Runs one of PostgreSQL's client tools (`createdb`, `psql`) against the server on `port` as
 * `postgres`, bounded: a table lock held elsewhere fails after `lock_timeout`, the command after
 * `timeoutMs`, each saying what did not end (`doing`). The caller reads its status and stderr.
 */
export function runPostgresTool(
  port: number,
  tool: string,
  args: string[],
  doing: string,
  timeoutMs = PSQL_TIMEOUT_MS,
): SpawnSyncReturns<string> {
  const done = spawnSync(
    path.join(postgresBinDir(), tool),
    ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', ...args],
    {
      encoding: 'utf8',
      timeout: timeoutMs,
      env: { ...process.env, PGOPTIONS: '-c lock_timeout=60s' },
    },
  );
  const error: NodeJS.ErrnoException | undefined = done.error;
  if (error?.code === 'ETIMEDOUT') {
    throw new Error(`PostgreSQL: ${doing} did not end within ${timeoutMs / 1000} s`);
  }
  if (error) throw new Error(`PostgreSQL: ${doing} could not run: ${error.message}`);
  return done;
}

/**
 * The database FerretDB stores in (see `ferretStorageArgs`); one already there is kept. Then the
 * indexes FerretDB cannot make (postgres-indexes.sql: without them each of its pushed-down
 * filters reads the whole collection), applied again each start. Both bounded: a table lock held
 * elsewhere fails after `lock_timeout`, and building the indexes of a large database made before
 * them (not timed) gives up after `PSQL_TIMEOUT_MS`, saying so.
 */
export function createFerretDatabase(port: number): void {
  const created = runPostgresTool(port, 'createdb', ['ferretdb'], 'creating the ferretdb database');
  if (created.status !== 0 && !/already exists/.test(created.stderr)) {
    throw new Error(`createdb ferretdb failed: ${created.stderr.trim()}`);
  }
  const sql = path.join(PROJECT_ROOT, 'dev-tools', 'stack', 'postgres-indexes.sql');
  const indexed = runPostgresTool(
    port,
    'psql',
    ['-d', 'ferretdb', '-q', '-v', 'ON_ERROR_STOP=1', '-f', sql],
    'postgres-indexes.sql',
  );
  if (indexed.status !== 0) throw new Error(`postgres-indexes.sql failed: ${indexed.stderr.trim()}`);
}

/**
 * Debian's PostgreSQL server binaries, installed on first use by dev-tools/setup/setup-postgres.sh (as the
 * browser tests install Chromium), with apt's output shown.
 */
export function postgresBinDir(): string {
  const find = () => {
    const root = '/usr/lib/postgresql';
    const versions = existsSync(root)
      ? readdirSync(root)
          .filter((v) => existsSync(path.join(root, v, 'bin', 'postgres')))
          .sort((a, b) => Number(a) - Number(b))
      : [];
    const newest = versions.at(-1);
    return newest ? path.join(root, newest, 'bin') : null;
  };
  const found = find();
  if (found) return found;
  const setup = spawnSync('bash', [path.join(PROJECT_ROOT, 'dev-tools', 'setup', 'setup-postgres.sh')], {
    stdio: 'inherit',
  });
  const installed = setup.status === 0 ? find() : null;
  if (!installed) {
    throw new Error(
      "The PostgreSQL engine needs Debian's postgresql package and dev-tools/setup/setup-postgres.sh could not install it (see its output above).",
    );
  }
  return installed;
}

/** PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user. */
export function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error("Running as root, the PostgreSQL engine needs the `postgres` user that Debian's package creates.");
  }
}

async function startIfDown(service: Service): Promise<boolean> {
  if (await service.healthy()) return false;
  process.stderr.write(`Starting ${service.name}…\n`);
  await service.start();
  return true;
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
        fakeLuccaArgs({
          port: s.fakeLuccaPort,
          tenant: FAKE_LUCCA_TENANT,
          size: 3000,
          seed: 42,
          apiKeyEnv: 'FAKE_LUCCA_API_KEY',
        }),
        { FAKE_LUCCA_API_KEY: key },
      );
      await waitHealthy(this, pid);
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
    if (service.name === 'ferretdb') await refuseEngineSwitch(s, service);
    const postgresWasUp =
      service.name === 'ferretdb' && s.engine === 'postgresql' && (await postgresService(s).healthy());
    if (!(await startIfDown(service))) continue;
    if (service.name === 'ferretdb' && s.engine === 'postgresql' && !postgresWasUp) started.push('postgres');
    started.push(service.name);
  }
  return started;
}

/** A FerretDB already running on the other engine would answer for this one: say so instead. */
async function refuseEngineSwitch(s: StackSettings, ferret: Service): Promise<void> {
  const running = (await readFile(enginePath, 'utf8').catch(() => '')).trim();
  if (running && running !== s.engine && (await ferret.healthy())) {
    throw new Error(
      `FerretDB is running on the ${running} engine, not ${s.engine}: stop the dev stack first (npm run dev:stack -- stop).`,
    );
  }
}

export async function stopStack(only?: ServiceName[]): Promise<ServiceName[]> {
  const stopped: ServiceName[] = [];
  const names: ServiceName[] = [...(only ?? ['fake-lucca', 'ferretdb', 'postgres', 'temporal'])];
  // PostgreSQL is only ever started for FerretDB: it stops with it.
  if (names.includes('ferretdb') && !names.includes('postgres'))
    names.splice(names.indexOf('ferretdb') + 1, 0, 'postgres');
  for (const name of names) {
    const pid = await readPid(name);
    if (pid === null) continue;
    if (isAlive(pid)) {
      // PostgreSQL's SIGTERM waits for every client to leave; SIGINT is its fast, clean shutdown.
      const signal = name === 'postgres' ? 'SIGINT' : 'SIGTERM';
      try {
        process.kill(-pid, signal);
      } catch {
        process.kill(pid, signal);
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
    const engine = service.name === 'ferretdb' ? `, ${s.engine} engine` : '';
    result[service.name] = `${(await service.healthy()) ? 'healthy' : 'down'} (${ours}${engine})`;
  }
  return result;
}
