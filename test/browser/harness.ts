import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Worker } from '@temporalio/worker';
import { chromium, type Browser, type Page } from 'playwright-core';
import { loadConfig } from '../../config/env';
import { hashPassword } from '../../console/password';
import type { ConsoleSettings } from '../../console/config';
import { startConsole, type RunningConsole } from '../../console/server';
import { ConsoleAccountsRepository } from '../../db/console-accounts-repository';
import type { OperationsDeps } from '../../operations';
import { createWorker, forgetCompanies, openStack, type Stack, stackEnv } from '../integration/helpers';

/**
 * The real stack for browser tests: Temporal and FerretDB (started by `npm run test:browser`), an
 * in-process worker on its own task queue, a fake Lucca, the console on a free port, and the
 * system Chromium driven by playwright-core.
 */
export const ADMIN_USER = 'admin';
export const ADMIN_PASSWORD = `browser-test-${randomBytes(6).toString('hex')}`;
/** An account that may only look. */
export const VIEWER_USER = 'viewer.vera';
export const VIEWER_PASSWORD = `browser-viewer-${randomBytes(6).toString('hex')}`;
export const SCREENSHOTS_DIR = path.join(import.meta.dirname, '..', '..', 'docs', 'screenshots');

// Without these, Chromium waits on connections the closed network blocks (updates, sync, QUIC).
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export interface ConsoleHarness {
  stack: Stack;
  deps: OperationsDeps;
  console: RunningConsole;
  /** Stops the console and starts another on the same port and database (as a restart or a second replica). */
  restartConsole(): Promise<RunningConsole>;
  browser: Browser;
  page: Page;
  companies: string[];
  close(): Promise<void>;
}

export async function openConsoleHarness(name: string): Promise<ConsoleHarness> {
  const stack = await openStack(name);
  const worker: Worker = await createWorker(stack, { temporal: { client: stack.client, taskQueue: stack.taskQueue } });
  const running = worker.run();
  const config = loadConfig(stackEnv(stack));
  const deps: OperationsDeps = { repos: stack.repos, client: stack.client, config };
  const accounts = new ConsoleAccountsRepository(stack.db);
  await accounts.create({
    username: VIEWER_USER,
    role: 'viewer',
    passwordHash: await hashPassword(VIEWER_PASSWORD),
    createdBy: 'cli',
  });
  const settings: ConsoleSettings = {
    host: '127.0.0.1',
    port: 0,
    // The operator comes from the environment's bootstrap, as with ADMIN_USER / ADMIN_PASSWORD_HASH.
    bootstrapAdmin: { username: ADMIN_USER, passwordHash: await hashPassword(ADMIN_PASSWORD) },
    sessionSecret: randomBytes(32).toString('base64'),
    sessionSecretGenerated: false,
    session: { idleMs: 30 * 60_000, absoluteMs: 8 * 3_600_000 },
    temporalUiUrl: process.env.DEV_TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233',
    publicUrl: 'http://127.0.0.1',
    trustedProxies: [],
  };
  let consoleServer = await startConsole({ deps, db: stack.db, settings });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
  const context = await browser.newContext({ baseURL: consoleServer.url, viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(20_000);
  const page = await context.newPage();
  await mkdir(SCREENSHOTS_DIR, { recursive: true });
  const companies: string[] = [];
  return {
    stack,
    deps,
    get console() {
      return consoleServer;
    },
    async restartConsole() {
      const port = Number(new URL(consoleServer.url).port);
      await consoleServer.close();
      consoleServer = await startConsole({ deps, db: stack.db, settings: { ...settings, port } });
      return consoleServer;
    },
    browser,
    page,
    companies,
    async close() {
      await browser.close().catch(() => undefined);
      await consoleServer.close();
      await forgetCompanies(stack, companies, 'browser test over');
      worker.shutdown();
      await running;
      await stack.close();
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS_DIR, `${name}.png`), fullPage: true });
}
