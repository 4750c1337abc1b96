import { spawn } from 'node:child_process';
import { chmod, cp, mkdir, readFile, rm, writeFile, rmdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { freePort } from './ports';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { PROJECT_ROOT } from './paths';

/**
 * The real Temporal dev server and FerretDB, built from their Go modules into the git-ignored
 * `.tools/` folder on first use and reused afterwards, and Temporal's time-skipping test server,
 * fetched from Maven Central the same way. Go's module and build caches and Maven's local
 * repository are left at their defaults, so a rebuild on the same machine is quick.
 */
export const TOOLS_DIR = path.join(PROJECT_ROOT, '.tools');
export const TOOLS_BIN = path.join(TOOLS_DIR, 'bin');

export const TEMPORAL_CLI = { name: 'temporal', module: 'github.com/temporalio/cli', version: 'v1.5.1' } as const;
export const FERRETDB = { name: 'ferretdb', module: 'github.com/FerretDB/FerretDB', version: 'v1.24.2' } as const;
/**
 * Temporal's time-skipping test server (`io.temporal:temporal-test-server`, of Temporal's Java
 * SDK; Java 17+ and Maven run it and fetch it), what `TestWorkflowEnvironment.createTimeSkipping`
 * would download from temporal.download. Its tool path is a launcher for the SDK's `existing-path`.
 */
export const TEMPORAL_TEST_SERVER = {
  name: 'temporal-test-server',
  artifact: 'io.temporal:temporal-test-server',
  version: '1.38.0',
} as const;

type Tool = typeof TEMPORAL_CLI | typeof FERRETDB | typeof TEMPORAL_TEST_SERVER;

export const toolPath = (tool: Tool): string => path.join(TOOLS_BIN, tool.name);
const stampPath = (tool: Tool): string => path.join(TOOLS_BIN, `${tool.name}.version`);

export class ToolBuildError extends Error {}

async function isBuilt(tool: Tool): Promise<boolean> {
  if (!existsSync(toolPath(tool))) return false;
  const stamp = await readFile(stampPath(tool), 'utf8').catch(() => '');
  return stamp.trim() === tool.version;
}

/**
 * Runs a build command, streaming the lines `progress` picks (shortened) and a progress line now
 * and then, and keeps its whole output for errors.
 */
async function runBuildCommand(
  label: string,
  command: string,
  args: string[],
  opts: {
    cwd: string;
    env: NodeJS.ProcessEnv;
    /** The line to show for an output line (null: none), and whether it counts as a unit of work. */
    progress: (line: string) => { show: string | null; counts: boolean };
    /** What the counted lines are, e.g. `packages compiled`. */
    unit: string;
  },
): Promise<string> {
  const started = Date.now();
  let output = '';
  let stdout = '';
  let done = 0;
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const onData = (chunk: Buffer) => {
    const text = chunk.toString();
    output += text;
    for (const line of text.split('\n')) {
      const { show, counts } = opts.progress(line);
      if (show) process.stderr.write(`  ${label}: ${show}\n`);
      if (counts) done++;
    }
  };
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    onData(chunk);
  });
  child.stderr.on('data', onData);
  const ticker = setInterval(() => {
    const secs = Math.round((Date.now() - started) / 1000);
    process.stderr.write(`  ${label}: still building — ${done} ${opts.unit}, ${secs}s elapsed\n`);
  }, 15_000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (err) =>
      reject(new ToolBuildError(`${label}: \`${command}\` could not be run (${err.message}); is it installed?`)),
    );
    child.on('close', resolve);
  }).finally(() => clearInterval(ticker));
  if (code !== 0) {
    throw new ToolBuildError(
      `${label}: \`${command} ${args.join(' ')}\` failed (exit ${code}). Its output:\n${output}`,
    );
  }
  return stdout;
}

/** Runs a Go command (see `runBuildCommand`), showing the modules it downloads. */
async function runGo(
  label: string,
  args: string[],
  cwd: string,
  extraEnv: Record<string, string> = {},
): Promise<string> {
  return runBuildCommand(label, 'go', args, {
    cwd,
    env: { ...process.env, GOFLAGS: '-modcacherw', GOTOOLCHAIN: 'local', ...extraEnv },
    progress: (line) =>
      line.startsWith('go: downloading')
        ? { show: line, counts: false }
        : { show: null, counts: line.trim() !== '' && !line.startsWith('#') },
    unit: 'packages compiled',
  });
}

async function goEnv(name: string): Promise<string> {
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('go', ['env', name], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString()));
    child.on('error', (err) =>
      reject(new ToolBuildError(`The Go toolchain is needed to build the dev tools and was not found: ${err.message}`)),
    );
    child.on('close', (code) =>
      code === 0 ? resolve(text.trim()) : reject(new ToolBuildError(`go env ${name} failed`)),
    );
  });
  return out;
}

async function buildTemporal(): Promise<void> {
  await runGo(
    'temporal',
    ['install', '-v', `${TEMPORAL_CLI.module}/cmd/temporal@${TEMPORAL_CLI.version}`],
    PROJECT_ROOT,
    { GOBIN: TOOLS_BIN },
  );
}

/**
 * FerretDB cannot be `go install`ed as is: its module embeds `build/version/version.txt`, which is
 * empty in the published module, and the binary panics at start without it. So the module is
 * downloaded through the Go module proxy, copied out of the read-only cache, stamped with its
 * version, and built with its own go.mod/go.sum — the same dependency versions `go install` uses.
 */
async function buildFerretDB(): Promise<void> {
  const json = await runGo(
    'ferretdb',
    ['mod', 'download', '-json', `${FERRETDB.module}@${FERRETDB.version}`],
    TOOLS_DIR,
  );
  const dir = (JSON.parse(json) as { Dir?: string }).Dir;
  if (!dir) throw new ToolBuildError(`ferretdb: go mod download gave no module directory:\n${json}`);
  const src = path.join(TOOLS_DIR, 'src', `ferretdb-${FERRETDB.version}`);
  await rm(src, { recursive: true, force: true });
  await cp(dir, src, { recursive: true });
  await makeWritable(src);
  await writeFile(path.join(src, 'build', 'version', 'version.txt'), `${FERRETDB.version}\n`);
  await runGo('ferretdb', ['build', '-v', '-o', toolPath(FERRETDB), './cmd/ferretdb'], src);
}

const TEST_SERVER_POM = path.join(PROJECT_ROOT, 'dev-tools', 'temporal-test-server', 'pom.xml');
const TEST_SERVER_LAUNCHER = path.join(PROJECT_ROOT, 'dev-tools', 'temporal-test-server', 'launcher.sh');
/** Where the launcher (`.tools/bin/temporal-test-server`) finds the server's jars. */
const TEST_SERVER_LIB = path.join(TOOLS_DIR, 'lib', TEMPORAL_TEST_SERVER.name);

/**
 * Maven copies the test server and its dependencies (runtime scope) from Maven Central into
 * `.tools/lib/temporal-test-server` (emptied first: jars of another version must not stay on the
 * class path), then the launcher is installed as the tool.
 */
async function fetchTemporalTestServer(): Promise<void> {
  const { name, version } = TEMPORAL_TEST_SERVER;
  await rm(TEST_SERVER_LIB, { recursive: true, force: true });
  await runBuildCommand(
    name,
    'mvn',
    [
      '--batch-mode',
      '-f',
      TEST_SERVER_POM,
      `-Dtemporal-test-server.version=${version}`,
      `-DoutputDirectory=${TEST_SERVER_LIB}`,
      'dependency:copy-dependencies',
    ],
    {
      cwd: TOOLS_DIR,
      env: process.env,
      progress: (line) => {
        // Maven fetches a .pom per artifact too: the jars alone say what arrives.
        const file = /Downloaded from \S+: (\S+)/.exec(line)?.[1];
        if (!file) return { show: null, counts: false };
        return { show: file.endsWith('.jar') ? `downloaded ${path.basename(file)}` : null, counts: true };
      },
      unit: 'files downloaded',
    },
  );
  const jar = path.join(TEST_SERVER_LIB, `${name}-${version}.jar`);
  if (!existsSync(jar)) throw new ToolBuildError(`${name}: Maven succeeded but ${jar} is missing`);
  await cp(TEST_SERVER_LAUNCHER, toolPath(TEMPORAL_TEST_SERVER));
  await chmod(toolPath(TEMPORAL_TEST_SERVER), 0o755);
  await archiveTestServerClasses();
}

/**
 * Runs the test server once so that the JVM saves the classes it loads (starting, answering a
 * client) in a class-data-sharing archive when it exits: later starts map them from there. See
 * `dev-tools/temporal-test-server/launcher.sh` for why a start must be quick.
 */
async function archiveTestServerClasses(): Promise<void> {
  const label = TEMPORAL_TEST_SERVER.name;
  const archive = `${TEST_SERVER_LIB}.jsa`;
  await rm(archive, { force: true });
  const port = await freePort();
  let output = '';
  const child = spawn(toolPath(TEMPORAL_TEST_SERVER), ['--archive-classes', String(port)], {
    cwd: TOOLS_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', (err) => reject(new ToolBuildError(`${label}: could not run the launcher (${err.message})`)));
    child.on('close', resolve);
  });
  const answered = (async () => {
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null) return false;
      const connection = await Connection.connect({ address: `127.0.0.1:${port}`, connectTimeout: 1000 }).catch(
        () => null,
      );
      if (connection) {
        try {
          await connection.workflowService.getSystemInfo({});
          return true;
        } catch {
          // not answering yet
        } finally {
          await connection.close();
        }
      }
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const ok = await answered;
  child.kill('SIGTERM');
  await exited;
  if (!ok || !existsSync(archive)) {
    throw new ToolBuildError(
      `${label}: the server ${ok ? 'ran but left no class archive' : 'did not answer within two minutes'} (Java 17 or later is needed). Its output:\n${output}`,
    );
  }
}

async function makeWritable(dir: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn('chmod', ['-R', 'u+w', dir], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new ToolBuildError(`chmod failed on ${dir}`))));
  });
}

/** A lock directory so that concurrent `ensure` calls (parallel test runs) build once. */
async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(TOOLS_DIR, `.${name}.lock`);
  await mkdir(TOOLS_DIR, { recursive: true });
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch {
      const info = await stat(lock).catch(() => null);
      // A lock older than the longest plausible build was left by a killed process.
      if (info && Date.now() - info.mtimeMs > 30 * 60_000) await rmdir(lock).catch(() => undefined);
      if (Date.now() > deadline) throw new ToolBuildError(`Timed out waiting for ${lock}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await rmdir(lock).catch(() => undefined);
  }
}

export async function ensureTool(tool: Tool): Promise<string> {
  if (await isBuilt(tool)) return toolPath(tool);
  return withLock(tool.name, async () => {
    if (await isBuilt(tool)) return toolPath(tool);
    await mkdir(TOOLS_BIN, { recursive: true });
    const started = Date.now();
    if (tool.name === 'temporal-test-server') {
      process.stderr.write(
        `Fetching ${tool.artifact} ${tool.version} from Maven Central with Maven (first time only)…\n`,
      );
      await fetchTemporalTestServer();
    } else {
      const gopath = await goEnv('GOMODCACHE');
      process.stderr.write(
        `Building ${tool.name} ${tool.version} from its Go module (first time only; module cache ${gopath})…\n`,
      );
      if (tool.name === 'temporal') await buildTemporal();
      else await buildFerretDB();
    }
    await writeFile(stampPath(tool), `${tool.version}\n`);
    process.stderr.write(`Built ${tool.name} in ${Math.round((Date.now() - started) / 1000)}s → ${toolPath(tool)}\n`);
    return toolPath(tool);
  });
}
