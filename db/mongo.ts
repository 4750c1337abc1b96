import { MongoClient, type Collection, type Db } from 'mongodb';
import { AlertsRepository } from './alerts-repository';
import { AuditLogRepository } from './audit-log-repository';
import { CompaniesRepository, type CompanyDocument } from './companies-repository';
import { LuccaBudgetsRepository } from './lucca-budgets-repository';
import { watchMonitor } from './monitor-watchdog';
import { LuccaSightingsRepository } from './lucca-sightings-repository';
import { ProfilesRepository, type ProfileDocument } from './profiles-repository';
import { ReviewedChangesRepository } from './reviewed-changes-repository';
import { SyncChangesRepository, type SyncChangeDocument } from './sync-changes-repository';
import { SyncRunsRepository, type SyncRunDocument } from './sync-runs-repository';
import { TenantClaimsRepository } from './tenant-claims-repository';
import { RunWorkingData } from './run-working-data';

export interface Repositories {
  companies: CompaniesRepository;
  profiles: ProfilesRepository;
  syncRuns: SyncRunsRepository;
  syncChanges: SyncChangesRepository;
  /** A run's staged pages, plan and rewrite journal, and their completion or removal. */
  workingData: RunWorkingData;
  reviewed: ReviewedChangesRepository;
  auditLog: AuditLogRepository;
  luccaBudgets: LuccaBudgetsRepository;
  luccaSightings: LuccaSightingsRepository;
  alerts: AlertsRepository;
  /** Who is placing a company on a Lucca tenant (onboarding, scope change), one at a time per tenant. */
  tenantClaims: TenantClaimsRepository;
}

export function repositories(db: Db): Repositories {
  const profiles = new ProfilesRepository(db);
  const syncRuns = new SyncRunsRepository(db);
  return {
    companies: new CompaniesRepository(db),
    profiles,
    syncRuns,
    syncChanges: new SyncChangesRepository(db),
    workingData: new RunWorkingData(db, { profiles, syncRuns }),
    reviewed: new ReviewedChangesRepository(db),
    auditLog: new AuditLogRepository(db),
    luccaBudgets: new LuccaBudgetsRepository(db),
    luccaSightings: new LuccaSightingsRepository(db),
    alerts: new AlertsRepository(db),
    tenantClaims: new TenantClaimsRepository(db),
  };
}

/**
 * The collections themselves, past the repositories, for what is not lucca-sync's to do: the
 * platform's own writes (the demo's imported profiles) and tests that check what the store holds.
 * lucca-sync's code reaches them only through its repositories.
 */
export interface PlatformCollections {
  companies: Collection<CompanyDocument>;
  profiles: Collection<ProfileDocument>;
  syncRuns: Collection<SyncRunDocument>;
  syncChanges: Collection<SyncChangeDocument>;
}

export function platformCollections(db: Db): PlatformCollections {
  return {
    companies: db.collection<CompanyDocument>(CompaniesRepository.collectionName),
    profiles: db.collection<ProfileDocument>(ProfilesRepository.collectionName),
    syncRuns: db.collection<SyncRunDocument>(SyncRunsRepository.collectionName),
    syncChanges: db.collection<SyncChangeDocument>(SyncChangesRepository.collectionName),
  };
}

/** Each repository declares its indexes next to its queries; this creates them all (idempotent). */
export async function ensureIndexes(repos: Repositories): Promise<void> {
  for (const repo of Object.values(repos) as { ensureIndexes(): Promise<void> }[]) await repo.ensureIndexes();
}

/**
 * The client every process uses, its server monitor watched (`watchMonitor`): reconnected when it
 * wedges, `onReconnect` told.
 */
export async function connectMongo(
  uri: string,
  dbName: string,
  opts: { monitorCommands?: boolean; onReconnect?: (info: { stuckMs: number }) => void } = {},
): Promise<{ client: MongoClient; db: Db }> {
  const client = new MongoClient(uri, {
    monitorCommands: opts.monitorCommands ?? false,
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
  watchMonitor(client, { onReconnect: opts.onReconnect });
  return { client, db: client.db(dbName) };
}

/** Connection strings may carry a password: never print one whole. */
export function redactUri(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/, '//***@');
}
