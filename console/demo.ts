import { randomBytes } from 'node:crypto';
import type { OperationsDeps } from '../operations';
import { hashPassword } from './password';
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
  const user = process.env.ADMIN_USER ?? 'admin';
  const password = process.env.ADMIN_PASSWORD ?? randomBytes(9).toString('base64url');
  const running = await startConsole({
    deps,
    settings: {
      host: '127.0.0.1',
      port: opts.port ?? Number(process.env.CONSOLE_PORT ?? 3400),
      adminUser: user,
      adminPasswordHash: await hashPassword(password),
      sessionSecret: randomBytes(32).toString('base64'),
      temporalUiUrl: opts.temporalUiUrl ?? process.env.TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233',
      secureCookie: false,
    },
  });
  return { ...running, user, password };
}
