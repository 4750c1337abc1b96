import { randomBytes } from 'node:crypto';
import type { OperationsDeps } from '../operations';
import { openConsoleDatabase, openConsoleStore } from '../operations/console-access';
import { loadConsoleSettings } from './config';
import { hashPassword } from './password';
import { startConsole, type RunningConsole } from './server';

export interface DemoConsole extends RunningConsole {
  user: string;
  password: string;
}

/**
 * The console as the demo starts it: on loopback, with one operator account (ADMIN_USER, `admin`
 * by default) whose password is new at each demo start (or ADMIN_PASSWORD when set); the demo
 * prints both next to the URL.
 */
export async function startDemoConsole(
  deps: OperationsDeps,
  opts: { port?: number; temporalUiUrl?: string } = {},
): Promise<DemoConsole> {
  const password = process.env.ADMIN_PASSWORD || randomBytes(12).toString('base64url');
  // The console's own settings, validated as the console's are (a bad CONSOLE_PORT is refused, named).
  // On loopback, plain http: whatever the environment says of a deployed console's host and proxies.
  const settings = await loadConsoleSettings({
    ...process.env,
    ADMIN_PASSWORD: '',
    ADMIN_PASSWORD_HASH: '',
    CONSOLE_HOST: '127.0.0.1',
    CONSOLE_PUBLIC_URL: undefined,
    CONSOLE_TRUSTED_PROXIES: '',
  });
  const user = (process.env.ADMIN_USER || 'admin').trim().toLowerCase();
  const mongo = await openConsoleDatabase(deps.config);
  try {
    const { accounts } = openConsoleStore(mongo.db, settings.session);
    const passwordHash = await hashPassword(password);
    if (await accounts.setPassword(user, passwordHash)) await accounts.setDisabled(user, false);
    else await accounts.create({ username: user, role: 'operator', passwordHash, createdBy: 'cli' });
    const running = await startConsole({
      deps,
      db: mongo.db,
      settings: {
        ...settings,
        port: opts.port ?? settings.port,
        temporalUiUrl: opts.temporalUiUrl ?? settings.temporalUiUrl,
      },
    });
    return {
      ...running,
      user,
      password,
      async close() {
        await running.close();
        await mongo.close();
      },
    };
  } catch (err) {
    await mongo.close();
    throw err;
  }
}
