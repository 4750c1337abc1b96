import { randomBytes } from 'node:crypto';
import type { OperationsDeps } from '../operations';
import { loadConsoleSettings } from './config';
import { startConsole, type RunningConsole } from './server';

export interface DemoConsole extends RunningConsole {
  user: string;
  password: string;
}

/**
 * The console as the demo starts it: on loopback, with a one-time admin password (or
 * ADMIN_PASSWORD when set) that the demo prints next to the URL.
 */
export async function startDemoConsole(
  deps: OperationsDeps,
  opts: { port?: number; temporalUiUrl?: string } = {},
): Promise<DemoConsole> {
  const password = process.env.ADMIN_PASSWORD || randomBytes(9).toString('base64url');
  // The console's own settings, validated as the console's are (a bad CONSOLE_PORT is refused, named).
  const settings = await loadConsoleSettings({ ...process.env, ADMIN_PASSWORD: password, ADMIN_PASSWORD_HASH: '' });
  const running = await startConsole({
    deps,
    settings: {
      ...settings,
      host: '127.0.0.1',
      port: opts.port ?? settings.port,
      temporalUiUrl: opts.temporalUiUrl ?? settings.temporalUiUrl,
      secureCookie: false,
    },
  });
  return { ...running, user: settings.adminUser, password };
}
