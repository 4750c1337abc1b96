import { Command, Option } from 'commander';
import { read } from 'read';
import { loadConfig } from '../../config/env';
import {
  AccountExistsError,
  CONSOLE_ROLES,
  ConsoleAccountsRepository,
  normalizeUsername,
  USERNAME_PATTERN,
  type ConsoleRole,
} from '../../db/console-accounts-repository';
import { AuditLogRepository } from '../../db/audit-log-repository';
import { connectMongo } from '../../db/mongo';
import { hashPassword, passwordProblem } from '../../console/password';
import { OperationError } from '../../operations';
import { recordConsoleAudit, type ConsoleAuditAction } from '../../operations/audit';
import { defaultRequestedBy } from '../../operations/sync';
import { formatDateTime } from '../../operations/terminal-format';

/**
 * `npm run cli -- admin add|disable|enable|list`: the admin console's named accounts, in MongoDB.
 * Needs MongoDB only (no Temporal). A password is never an argument (shell history, `ps`): it is
 * typed twice without echo on a terminal, or read from stdin or from an environment variable.
 * `add`, `disable` and `enable` are recorded in the console's audit log (`audit --console`), with
 * the OS user as who, the account and role as what — never the password.
 */
export function adminCommand(): Command {
  const admin = new Command('admin').description(
    'Manage the admin console accounts: viewers may only look, operators may also act (sync, override, key, schedule, connect, offboard)',
  );
  const userOption = () =>
    new Option('--user <name>', 'account name (lower-case letters, digits, . _ @ -)').makeOptionMandatory();

  admin
    .command('add')
    .description('Create an account; the password is typed twice (not shown), or read from stdin or --password-env')
    .addOption(userOption())
    .addOption(new Option('--role <role>', 'what the account may do').choices([...CONSOLE_ROLES]).makeOptionMandatory())
    .option('--password-env <VAR>', 'read the password from this environment variable')
    .addHelpText(
      'after',
      '\nExamples:\n  npm run cli -- admin add --user alice --role operator\n  op read "op://it/console-bob/password" | npm run cli -- admin add --user bob --role viewer',
    )
    .action(async (opts: { user: string; role: ConsoleRole; passwordEnv?: string }) => {
      const username = checkedUsername(opts.user);
      const password = await readNewPassword(opts.passwordEnv);
      const problem = passwordProblem(password, username);
      if (problem) throw new OperationError('usage', problem);
      const passwordHash = await hashPassword(password);
      await withAccounts(async (accounts, audit) => {
        const what = { action: 'admin-add' as const, params: { user: username, role: opts.role } };
        try {
          await accounts.create({ username, role: opts.role, passwordHash, createdBy: 'cli' });
        } catch (err) {
          if (err instanceof AccountExistsError) {
            await audit(what, 'account-exists');
            throw new OperationError('usage', `${err.message} See \`npm run cli -- admin list\`.`);
          }
          throw err;
        }
        await audit(what, null);
        console.log(`Created ${opts.role} account "${username}": it can log in to the console now.`);
      });
    });

  admin
    .command('disable')
    .description('Disable an account: it cannot log in, and its open sessions end at their next request')
    .addOption(userOption())
    .action(async (opts: { user: string }) => {
      const username = checkedUsername(opts.user);
      await withAccounts(async (accounts, audit) => {
        const what = { action: 'admin-disable' as const, params: { user: username } };
        if (!(await accounts.setDisabled(username, true))) {
          await audit(what, 'no-such-account');
          throw noSuchAccount(username);
        }
        await audit(what, null);
        console.log(`Disabled "${username}": no more logins, and its open sessions end at their next request.`);
        if ((await accounts.countEnabled()) === 0) {
          console.error('No enabled account is left: nobody can log in to the console until one is added or enabled.');
        }
      });
    });

  admin
    .command('enable')
    .description('Enable a disabled account again')
    .addOption(userOption())
    .action(async (opts: { user: string }) => {
      const username = checkedUsername(opts.user);
      await withAccounts(async (accounts, audit) => {
        const what = { action: 'admin-enable' as const, params: { user: username } };
        if (!(await accounts.setDisabled(username, false))) {
          await audit(what, 'no-such-account');
          throw noSuchAccount(username);
        }
        await audit(what, null);
        console.log(`Enabled "${username}".`);
      });
    });

  admin
    .command('list')
    .description('The accounts: name, role, enabled or not, created when and how')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      await withAccounts(async (accounts) => {
        const list = (await accounts.list()).map((a) => ({
          user: a._id,
          role: a.role,
          disabled: a.disabled,
          createdBy: a.createdBy,
          createdAt: a.createdAt,
          disabledAt: a.disabledAt ?? null,
        }));
        if (opts.json) return console.log(JSON.stringify(list, null, 2));
        if (list.length === 0)
          return console.log('No console account yet: `npm run cli -- admin add --user <name> --role operator`.');
        for (const a of list) {
          console.log(
            `${a.user.padEnd(24)} ${a.role.padEnd(9)} ${a.disabled ? 'disabled' : 'enabled '} created ${formatDateTime(a.createdAt)} (${a.createdBy})`,
          );
        }
      });
    });
  return admin;
}

function checkedUsername(name: string): string {
  const username = normalizeUsername(name);
  if (!USERNAME_PATTERN.test(username)) {
    throw new OperationError('usage', 'An account name is 2 to 64 lower-case letters, digits or . _ @ -.');
  }
  return username;
}

const noSuchAccount = (username: string) =>
  new OperationError('usage', `No account "${username}". See \`npm run cli -- admin list\`.`);

/** Records an account change in the console's audit log: done (code null) or refused with its code. */
type AuditAccountChange = (
  what: { action: ConsoleAuditAction; params: Record<string, string> },
  refusedCode: string | null,
) => Promise<void>;

async function withAccounts<T>(
  fn: (accounts: ConsoleAccountsRepository, audit: AuditAccountChange) => Promise<T>,
): Promise<T> {
  const config = loadConfig();
  const { client, db } = await connectMongo(config.MONGODB_URI, config.MONGODB_DB);
  const auditLog = new AuditLogRepository(db);
  const audit: AuditAccountChange = async (what, refusedCode) => {
    await recordConsoleAudit(
      auditLog,
      { actor: defaultRequestedBy(), source: 'cli' },
      what,
      refusedCode ? { outcome: 'refused', code: refusedCode } : { outcome: 'ok', code: null },
    );
  };
  try {
    return await fn(new ConsoleAccountsRepository(db), audit);
  } finally {
    await client.close();
  }
}

/** The new password: from the environment variable, typed twice without echo, or stdin's first line. */
async function readNewPassword(envVar: string | undefined): Promise<string> {
  if (envVar) {
    const value = process.env[envVar];
    if (!value) throw new OperationError('usage', `$${envVar} is empty or not set.`);
    return value;
  }
  if (process.stdin.isTTY) {
    const first = await read({ prompt: 'Password: ', silent: true, replace: '', output: process.stderr });
    const again = await read({ prompt: 'Password again: ', silent: true, replace: '', output: process.stderr });
    if (first !== again) throw new OperationError('usage', 'The two passwords differ.');
    return first;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}
