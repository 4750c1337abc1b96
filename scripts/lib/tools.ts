import { spawn } from 'node:child_process';
import { cp, mkdir, readFile, rm, writeFile, rmdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './paths';

/**
 * The real Temporal dev server and FerretDB, built from their Go modules into the git-ignored
 * `.tools/` folder on first use and reused afterwards. Go's own module and build caches are
 * left at their defaults, so a rebuild on the same machine is quick.
 */
export const TOOLS_DIR = path.join(PROJECT_ROOT, '.tools');
export const TOOLS_BIN = path.join(TOOLS_DIR, 'bin');

export const TEMPORAL_CLI = { name: 'temporal', module: 'github.com/temporalio/cli', version: 'v1.5.1' } as const;
export const FERRETDB = { name: 'ferretdb', module: 'github.com/FerretDB/FerretDB', version: 'v1.24.2' } as const;

type Tool = typeof TEMPORAL_CLI | typeof FERRETDB;

export const toolPath = (tool: Tool): string => path.join(TOOLS_BIN, tool.name);
const stampPath = (tool: Tool): string => path.join(TOOLS_BIN, `${tool.name}.version`);

export class ToolBuildError extends Error {}

async function isBuilt(tool: Tool): Promise<boolean> {
  if (!existsSync(toolPath(tool))) return false;
  const stamp = await readFile(stampPath(tool), 'utf8').catch(() => '');
  return stamp.trim() === tool.version;
}

/** Runs a Go command, streaming a progress line now and then, and keeps its whole output for errors. */
async function runGo(
  label: string,
  args: string[],
  cwd: string,
  extraEnv: Record<string, string> = {},
): Promise<string> {
  const started = Date.now();
  let output = '';
  let stdout = '';
  let packages = 0;
  const child = spawn('go', args, {
    cwd,
    env: { ...process.env, GOFLAGS: '-modcacherw', GOTOOLCHAIN: 'local', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const onData = (chunk: Buffer) => {
    const text = chunk.toString();
    output += text;
    for (const line of text.split('\n')) {
      if (line.startsWith('go: downloading')) process.stderr.write(`  ${label}: ${line}\n`);
      else if (line.trim() && !line.startsWith('#')) packages++;
    }
  };
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    onData(chunk);
  });
  child.stderr.on('data', onData);
  const ticker = setInterval(() => {
    const secs = Math.round((Date.now() - started) / 1000);
    process.stderr.write(`  ${label}: still building — ${packages} packages compiled, ${secs}s elapsed\n`);
  }, 15_000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  }).finally(() => clearInterval(ticker));
  if (code !== 0) {
    throw new ToolBuildError(`${label}: \`go ${args.join(' ')}\` failed (exit ${code}). Go's output:\n${output}`);
  }
  return stdout;
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
    const gopath = await goEnv('GOMODCACHE');
    process.stderr.write(
      `Building ${tool.name} ${tool.version} from its Go module (first time only; module cache ${gopath})…\n`,
    );
    const started = Date.now();
    if (tool.name === 'temporal') await buildTemporal();
    else await buildFerretDB();
    await writeFile(stampPath(tool), `${tool.version}\n`);
    process.stderr.write(`Built ${tool.name} in ${Math.round((Date.now() - started) / 1000)}s → ${toolPath(tool)}\n`);
    return toolPath(tool);
  });
}
