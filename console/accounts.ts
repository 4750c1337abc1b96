import type { FastifyBaseLogger } from 'fastify';
import { ConfigError } from '../config/env';
import type { ConsoleAccountsRepository } from '../db/console-accounts-repository';
import type { ConsoleSettings } from './config';

export const NO_ACCOUNT_MESSAGE =
  'No console account: create one with `npm run cli -- admin add --user <name> --role operator` (password on stdin), or set ADMIN_USER and ADMIN_PASSWORD_HASH to have the console create it at start.';

/**
 * Before the console serves: the environment's admin (ADMIN_USER + ADMIN_PASSWORD_HASH, the
 * single-admin setting of earlier versions) becomes an operator account if there is none of that
 * name — a bootstrap, never an overwrite: once the account exists, the CLI manages it and the
 * environment's password is ignored. A console with no usable account refuses to start.
 */
export async function prepareAccounts(
  accounts: ConsoleAccountsRepository,
  bootstrap: ConsoleSettings['bootstrapAdmin'],
  log: FastifyBaseLogger,
): Promise<void> {
  if (bootstrap) {
    const existing = await accounts.get(bootstrap.username);
    if (!existing) {
      await accounts
        .create({
          username: bootstrap.username,
          role: 'operator',
          passwordHash: bootstrap.passwordHash,
          createdBy: 'environment',
        })
        .catch((err: unknown) => {
          // Another replica created it at the same moment.
          if ((err as Error).name !== 'AccountExistsError') throw err;
        });
      log.info('console account created from ADMIN_USER');
    } else {
      log.info(
        'ADMIN_USER has an account already: ADMIN_PASSWORD(_HASH) only creates it; `npm run cli -- admin` manages it',
      );
    }
  }
  if ((await accounts.countEnabled()) === 0) throw new ConfigError(NO_ACCOUNT_MESSAGE);
}
