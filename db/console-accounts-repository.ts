import { MongoServerError, type Collection, type Db } from 'mongodb';

import { normalizeUsername, type ConsoleRole } from '../domain/console-accounts';

export {
  CONSOLE_ROLES,
  isConsoleRole,
  normalizeUsername,
  USERNAME_PATTERN,
  type ConsoleRole,
} from '../domain/console-accounts';

/** A named platform admin of the console. `_id` is the user name: the one lookup FerretDB pushes down. */
export interface ConsoleAccountDocument {
  _id: string;
  role: ConsoleRole;
  /** scrypt hash (console/password.ts); never the password. */
  passwordHash: string;
  disabled: boolean;
  /** Where the account came from: the CLI, or the ADMIN_USER bootstrap of the environment. */
  createdBy: 'cli' | 'environment';
  createdAt: Date;
  updatedAt: Date;
  disabledAt?: Date | null;
}

export class AccountExistsError extends Error {
  constructor(readonly username: string) {
    super(`An account "${username}" already exists.`);
    this.name = 'AccountExistsError';
  }
}

export class ConsoleAccountsRepository {
  static readonly collectionName = 'consoleAccounts';
  private readonly collection: Collection<ConsoleAccountDocument>;

  constructor(db: Db) {
    this.collection = db.collection<ConsoleAccountDocument>(ConsoleAccountsRepository.collectionName);
  }

  async ensureIndexes(): Promise<void> {
    // Looked up by _id (the user name) only.
  }

  get(username: string): Promise<ConsoleAccountDocument | null> {
    return this.collection.findOne({ _id: normalizeUsername(username) });
  }

  list(): Promise<ConsoleAccountDocument[]> {
    return this.collection.find({}).sort({ _id: 1 }).toArray();
  }

  async countEnabled(): Promise<number> {
    return (await this.list()).filter((a) => !a.disabled).length;
  }

  /** Creates the account; an existing name is refused (never overwritten). */
  async create(a: {
    username: string;
    role: ConsoleRole;
    passwordHash: string;
    createdBy: ConsoleAccountDocument['createdBy'];
    now?: Date;
  }): Promise<ConsoleAccountDocument> {
    const now = a.now ?? new Date();
    const doc: ConsoleAccountDocument = {
      _id: normalizeUsername(a.username),
      role: a.role,
      passwordHash: a.passwordHash,
      disabled: false,
      createdBy: a.createdBy,
      createdAt: now,
      updatedAt: now,
      disabledAt: null,
    };
    try {
      await this.collection.insertOne(doc);
    } catch (err) {
      if (err instanceof MongoServerError && err.code === 11000) throw new AccountExistsError(doc._id);
      throw err;
    }
    return doc;
  }

  /** Replaces the password hash; false when there is no account of that name. */
  async setPassword(username: string, passwordHash: string, now = new Date()): Promise<boolean> {
    const result = await this.collection.updateOne(
      { _id: normalizeUsername(username) },
      { $set: { passwordHash, updatedAt: now } },
    );
    return result.matchedCount === 1;
  }

  /** Disables (or enables again) an account; false when there is none of that name. */
  async setDisabled(username: string, disabled: boolean, now = new Date()): Promise<boolean> {
    const result = await this.collection.updateOne(
      { _id: normalizeUsername(username) },
      { $set: { disabled, disabledAt: disabled ? now : null, updatedAt: now } },
    );
    return result.matchedCount === 1;
  }
}
