import type { Db } from 'mongodb';
import { ConsoleAccountsRepository } from './console-accounts-repository';
import { ConsoleSessionsRepository, type SessionLifetime } from './console-sessions-repository';
import { LoginAttemptsRepository } from './login-attempts-repository';

/** The admin console's own collections: its accounts, its sessions and its failed logins. */
export interface ConsoleStore {
  accounts: ConsoleAccountsRepository;
  sessions: ConsoleSessionsRepository;
  loginAttempts: LoginAttemptsRepository;
}

export function consoleStore(db: Db, opts: { sessions: SessionLifetime; now?: () => Date }): ConsoleStore {
  return {
    accounts: new ConsoleAccountsRepository(db),
    sessions: new ConsoleSessionsRepository(db, opts.sessions, opts.now),
    loginAttempts: new LoginAttemptsRepository(db),
  };
}
