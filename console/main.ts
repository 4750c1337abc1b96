import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../config/env';
import { openOperationsContext } from '../operations';
import { openConsoleDatabase } from '../operations/console-access';
import { loadConsoleSettings } from './config';
import { hashPassword, passwordProblem } from './password';
import { startConsole } from './server';

/**
 * `npm run console` starts the admin console; `npm run console -- hash-password` prints the
 * ADMIN_PASSWORD_HASH for a password read from stdin (never from the command line, where it
 * would land in the shell history).
 */
async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Password (input is shown; pipe it in to hide it): ');
  const rl = createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return '';
}

async function main(argv: string[]): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  if (argv[0] === 'hash-password') {
    const password = await readPassword();
    const problem = passwordProblem(password, '');
    if (problem) throw new ConfigError(problem);
    console.log(await hashPassword(password));
    return;
  }
  if (argv[0] === '--help' || argv[0] === '-h') {
    console.log(
      'Usage: npm run console            start the admin console (CONSOLE_HOST, CONSOLE_PORT; accounts: npm run cli -- admin)\n' +
        '       npm run console -- hash-password   print a hash for ADMIN_PASSWORD_HASH, the bootstrap account (password on stdin)',
    );
    return;
  }
  const config = loadConfig();
  const settings = await loadConsoleSettings();
  const logger = pino({
    level: config.LOG_LEVEL,
    redact: ['req.headers.cookie', 'req.headers.authorization', 'req.body'],
  });
  const ops = await openOperationsContext(config);
  // The console's own collections (accounts, sessions, failed logins) on a connection of its own.
  const consoleDb = await openConsoleDatabase(config);
  const running = await startConsole({ deps: ops, settings, db: consoleDb.db, logger });
  console.log(`lucca-sync console: ${running.url}  (accounts: npm run cli -- admin list)`);
  const stop = async () => {
    await running.close();
    await consoleDb.close();
    await ops.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
