import { MongoClient, type Db } from 'mongodb';
import { CompaniesRepository } from './companies-repository';
import { ProfilesRepository } from './profiles-repository';
import { SyncChangesRepository } from './sync-changes-repository';
import { SyncRunsRepository } from './sync-runs-repository';
import { SyncStagingRepository } from './sync-staging-repository';

export interface Repositories {
  companies: CompaniesRepository;
  profiles: ProfilesRepository;
  syncRuns: SyncRunsRepository;
  syncChanges: SyncChangesRepository;
  staging: SyncStagingRepository;
}

export function repositories(db: Db): Repositories {
  return {
    companies: new CompaniesRepository(db),
    profiles: new ProfilesRepository(db),
    syncRuns: new SyncRunsRepository(db),
    syncChanges: new SyncChangesRepository(db),
    staging: new SyncStagingRepository(db),
  };
}

/** Each repository declares its indexes next to its queries; this creates them all (idempotent). */
export async function ensureIndexes(repos: Repositories): Promise<void> {
  for (const repo of Object.values(repos) as { ensureIndexes(): Promise<void> }[]) await repo.ensureIndexes();
}

export async function connectMongo(
  uri: string,
  dbName: string,
  opts: { monitorCommands?: boolean } = {},
): Promise<{ client: MongoClient; db: Db }> {
  const client = new MongoClient(uri, {
    ...opts,
    serverSelectionTimeoutMS: 10_000,
    // Writes are idempotent upserts / conditional updates, so the driver may retry them safely.
    retryWrites: true,
    retryReads: true,
    appName: 'lucca-sync',
  });
  try {
    await client.connect();
  } catch (err) {
    await client.close().catch(() => undefined);
    throw new Error(
      `Cannot reach MongoDB at ${redactUri(uri)}: ${err instanceof Error ? err.message : String(err)}. Check MONGODB_URI, or start the dev stack with \`npm run dev:stack -- start\`.`,
    );
  }
  return { client, db: client.db(dbName) };
}

/** Connection strings may carry a password: never print one whole. */
export function redactUri(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/, '//***@');
}
