import type { Db } from 'mongodb';
import type { AppConfig } from '../config/env';
import { consoleStore, type ConsoleStore } from '../db/console-store';
import type { SessionLifetime } from '../db/console-sessions-repository';
import { connectMongo } from '../db/mongo';

export type { ConsoleStore };

/** The admin console's own collections (accounts, sessions, failed logins) in the platform's database. */
export function openConsoleStore(db: Db, sessions: SessionLifetime, now?: () => Date): ConsoleStore {
  return consoleStore(db, { sessions, ...(now ? { now } : {}) });
}

/** A connection of the console's own for those collections (the console and the demo). */
export async function openConsoleDatabase(config: AppConfig): Promise<{ db: Db; close(): Promise<void> }> {
  const { client, db } = await connectMongo(config.MONGODB_URI, config.MONGODB_DB);
  return { db, close: () => client.close() };
}
