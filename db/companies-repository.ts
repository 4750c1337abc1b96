import type { Collection, Db } from 'mongodb';
import { NO_EXTRA_FIELDS, type ExtraFieldsConfig, type ExtraFieldSpec } from '../domain/extra-fields';
import {
  DEFAULT_GUARD,
  guardSettingPath,
  type GuardKind,
  type GuardSettings,
  type GuardThreshold,
} from '../domain/guards';

/**
 * The part of its Lucca tenant a company covers, by Lucca ids, sorted and distinct (see
 * `lucca/scope.ts`): empty lists (or none stored) mean the whole tenant.
 */
export interface CompanyScope {
  legalEntityIds: number[];
  departmentIds: number[];
}

export interface CompanyDocument {
  _id: string;
  name: string;
  timezone: string;
  lucca: {
    baseUrl: string;
    /** AES-256-GCM ciphertext (see api-key-cipher); null once offboarded. */
    apiKey: string | null;
    apiKeyHint: string | null;
    connectedAt: Date | null;
    /**
     * The connection's stamp: a new id whenever the URL or the key changes (onboarding again with
     * the same ones, or re-encrypting the key, keeps it). A run records the stamp it read with and
     * writes nothing once it has changed. Absent on companies onboarded before stamps.
     */
    connectionId?: string;
    /**
     * Part of the connection: changing it changes the stamp. Absent (or both lists empty): the
     * whole tenant, as before scopes existed.
     */
    scope?: CompanyScope;
    /**
     * The operator allowed this company's scope to overlap another company's on the same tenant
     * (`--allow-overlap`): people in both are synced into both.
     */
    scopeOverlapAllowed?: boolean;
    /**
     * Part of the connection, like the scope: the extra Lucca fields read for each profile (stored
     * under `profiles.lucca.extra.<key>`). Absent: none.
     */
    extraFields?: ExtraFieldSpec[];
    /** Keys of extra fields removed with their values cleared: runs blank what profiles still hold under them. */
    clearedExtraKeys?: string[];
  };
  /** The schedule, and the mass-change guards' thresholds (see `GuardSettings`, read with `guardsOf`). */
  sync: GuardSettings & {
    every: string;
    paused: boolean;
    /**
     * How often a scheduled run reads everyone at least (a duration, at most `24h`, the default):
     * between full reads, scheduled runs read only the users modified since the last one.
     */
    fullReadEvery?: string;
  };
  /** Where the company's alerts go (see `domain/alerts.ts`); absent: nowhere. */
  alerts?: AlertTargets;
  /**
   * Set when offboarding begins, before its schedule is deleted and its workflow cancelled, and
   * kept once it is done; onboarding removes it. While set, the company gets no new run and no new
   * workflow (see `syncRefusal`).
   */
  offboardedAt?: Date;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * Why a company must not get a new run or a new workflow — it is not onboarded, or it is
 * offboarded or being offboarded — or null when it may. What every request checks first.
 */
export function syncRefusal(company: CompanyDocument | null): 'company-not-found' | 'offboarded' | null {
  if (!company) return 'company-not-found';
  return company.offboardedAt || company.lucca.apiKey === null ? 'offboarded' : null;
}

/** A webhook that receives a company's alerts, signed with its own secret. */
export interface AlertWebhookTarget {
  /** Opaque, e.g. `wh-1a2b3c4d`: what Temporal and the delivery records name instead of the URL. */
  id: string;
  url: string;
  /** The signing secret, encrypted like the API key (bound to the company and this URL). */
  secret: string;
  addedAt: Date;
}

/** An email address that receives a company's alerts (an administrator's, personal data: never in Temporal). */
export interface AlertEmailTarget {
  /** Opaque, e.g. `em-1a2b3c4d`. */
  id: string;
  address: string;
  addedAt: Date;
}

export interface AlertTargets {
  webhooks: AlertWebhookTarget[];
  emails: AlertEmailTarget[];
}

/** A company's alert targets, none when it has none. */
export function alertTargetsOf(company: Pick<CompanyDocument, 'alerts'>): AlertTargets {
  return { webhooks: company.alerts?.webhooks ?? [], emails: company.alerts?.emails ?? [] };
}

export interface CompanyUpsert {
  id: string;
  name: string;
  timezone: string;
  baseUrl: string;
  encryptedApiKey: string;
  apiKeyHint: string;
  /** The connection's stamp (see `CompanyDocument.lucca.connectionId`). */
  connectionId: string;
  /** Stored when given (null: the whole tenant); absent keeps the company's scope as it is. */
  scope?: CompanyScope | null;
  /** Stored when given, with the scope. */
  scopeOverlapAllowed?: boolean;
  every: string;
  now: Date;
}

/** A company's scope, or null when it covers its whole tenant. */
export function scopeOf(company: Pick<CompanyDocument, 'lucca'>): CompanyScope | null {
  const scope = company.lucca.scope;
  if (!scope || (scope.legalEntityIds.length === 0 && scope.departmentIds.length === 0)) return null;
  return scope;
}

/** What a company reads beyond the core fields (see `ExtraFieldsConfig`). */
export function extraFieldsOf(company: Pick<CompanyDocument, 'lucca'>): ExtraFieldsConfig {
  const { extraFields, clearedExtraKeys } = company.lucca;
  if (!extraFields?.length && !clearedExtraKeys?.length) return NO_EXTRA_FIELDS;
  return { fields: extraFields ?? [], cleared: clearedExtraKeys ?? [] };
}

export class CompaniesRepository {
  static readonly collectionName = 'companies';
  private readonly collection: Collection<CompanyDocument>;

  constructor(private readonly db: Db) {
    this.collection = db.collection<CompanyDocument>(CompaniesRepository.collectionName);
  }

  /**
   * Resolves when the store answers a `ping` within `timeoutMs`, rejects otherwise: the readiness
   * checks of the worker and the console (every lucca-sync process reads companies first).
   */
  async ping(timeoutMs: number): Promise<void> {
    await this.db.command({ ping: 1 }, { timeoutMS: timeoutMs });
  }

  async ensureIndexes(): Promise<void> {
    // _id is the company slug; nothing else is queried at scale.
  }

  get(id: string): Promise<CompanyDocument | null> {
    return this.collection.findOne({ _id: id });
  }

  list(): Promise<CompanyDocument[]> {
    return this.collection.find({}).sort({ _id: 1 }).toArray();
  }

  /** Onboarding is re-runnable: the same id updates the company in place. */
  async upsert(c: CompanyUpsert): Promise<void> {
    await this.collection.updateOne(
      { _id: c.id },
      {
        $set: {
          name: c.name,
          timezone: c.timezone,
          'lucca.baseUrl': c.baseUrl,
          'lucca.apiKey': c.encryptedApiKey,
          'lucca.apiKeyHint': c.apiKeyHint,
          'lucca.connectedAt': c.now,
          'lucca.connectionId': c.connectionId,
          ...(c.scope === undefined ? {} : { 'lucca.scope': c.scope ?? { legalEntityIds: [], departmentIds: [] } }),
          ...(c.scopeOverlapAllowed === undefined ? {} : { 'lucca.scopeOverlapAllowed': c.scopeOverlapAllowed }),
          'sync.every': c.every,
          updatedAt: c.now,
        },
        $setOnInsert: {
          'sync.paused': false,
          'sync.deactivationGuard': DEFAULT_GUARD,
          createdAt: c.now,
        },
        // An offboarded company onboarded again syncs again.
        $unset: { offboardedAt: '' },
      },
      { upsert: true },
    );
  }

  /**
   * Stores a new scope under a new connection stamp, only while the company is still on
   * `expectedConnectionId` (a connection change in between wins: false, nothing written).
   */
  async setScope(
    id: string,
    change: { scope: CompanyScope | null; scopeOverlapAllowed: boolean; connectionId: string },
    expectedConnectionId: string | undefined,
    now: Date,
  ): Promise<boolean> {
    return this.setConnectionPart(
      id,
      {
        'lucca.scope': change.scope ?? { legalEntityIds: [], departmentIds: [] },
        'lucca.scopeOverlapAllowed': change.scopeOverlapAllowed,
      },
      change.connectionId,
      expectedConnectionId,
      now,
    );
  }

  /**
   * Stores a company's extra fields under a new connection stamp, only while the company is still
   * on `expectedConnectionId` (as `setScope`).
   */
  async setExtraFields(
    id: string,
    change: { config: ExtraFieldsConfig; connectionId: string },
    expectedConnectionId: string | undefined,
    now: Date,
  ): Promise<boolean> {
    return this.setConnectionPart(
      id,
      { 'lucca.extraFields': [...change.config.fields], 'lucca.clearedExtraKeys': [...change.config.cleared] },
      change.connectionId,
      expectedConnectionId,
      now,
    );
  }

  /**
   * Sets part of a company's connection under a new stamp, only while the company is still on
   * `expectedConnectionId`: a connection change in between wins (false, nothing written).
   */
  private async setConnectionPart(
    id: string,
    set: Record<string, unknown>,
    connectionId: string,
    expectedConnectionId: string | undefined,
    now: Date,
  ): Promise<boolean> {
    const res = await this.collection.updateOne(
      { _id: id, 'lucca.connectionId': expectedConnectionId ?? { $exists: false } },
      { $set: { ...set, 'lucca.connectionId': connectionId, updatedAt: now } },
    );
    return res.modifiedCount === 1;
  }

  async setSchedule(id: string, change: { every?: string; paused?: boolean }, now: Date): Promise<boolean> {
    const set: Record<string, unknown> = { updatedAt: now };
    if (change.every !== undefined) set['sync.every'] = change.every;
    if (change.paused !== undefined) set['sync.paused'] = change.paused;
    const res = await this.collection.updateOne({ _id: id }, { $set: set });
    return res.matchedCount === 1;
  }

  /**
   * Stores `next` in place of the encrypted key `expected` (a key rotation); false when the key
   * changed in between (onboarded again meanwhile), which then keeps its newer key.
   */
  async replaceApiKey(id: string, expected: string, next: string, now: Date): Promise<boolean> {
    const res = await this.collection.updateOne(
      { _id: id, 'lucca.apiKey': expected },
      { $set: { 'lucca.apiKey': next, updatedAt: now } },
    );
    return res.modifiedCount === 1;
  }

  /** Sets one guard's threshold for the company; false when there is no such company. */
  async setGuard(id: string, kind: GuardKind, threshold: GuardThreshold, now: Date): Promise<boolean> {
    const path = `sync.${guardSettingPath(kind)}`;
    const res = await this.collection.updateOne({ _id: id }, { $set: { [path]: threshold, updatedAt: now } });
    return res.matchedCount === 1;
  }

  /** The first step of offboarding: from here on, requests and schedule firings are refused. False when there is no such company. */
  async markOffboarded(id: string, now: Date): Promise<boolean> {
    const res = await this.collection.updateOne({ _id: id }, { $set: { offboardedAt: now, updatedAt: now } });
    return res.matchedCount === 1;
  }

  async eraseApiKey(id: string, now: Date): Promise<boolean> {
    const res = await this.collection.updateOne(
      { _id: id },
      { $set: { 'lucca.apiKey': null, 'lucca.connectedAt': null, 'sync.paused': true, updatedAt: now } },
    );
    return res.matchedCount === 1;
  }

  /** Adds an alert target; false when there is no such company. */
  async addAlertTarget(
    id: string,
    target: { kind: 'webhook'; webhook: AlertWebhookTarget } | { kind: 'email'; email: AlertEmailTarget },
    now: Date,
  ): Promise<boolean> {
    const push = target.kind === 'webhook' ? { 'alerts.webhooks': target.webhook } : { 'alerts.emails': target.email };
    const res = await this.collection.updateOne({ _id: id }, { $push: push, $set: { updatedAt: now } });
    return res.matchedCount === 1;
  }

  /** Removes the alert target `targetId` (a webhook's or an email's); false when the company has none by that id. */
  async removeAlertTarget(id: string, targetId: string, now: Date): Promise<boolean> {
    const company = await this.get(id);
    if (!company) return false;
    const { webhooks, emails } = alertTargetsOf(company);
    if (!webhooks.some((w) => w.id === targetId) && !emails.some((e) => e.id === targetId)) return false;
    await this.collection.updateOne(
      { _id: id },
      { $pull: { 'alerts.webhooks': { id: targetId }, 'alerts.emails': { id: targetId } }, $set: { updatedAt: now } },
    );
    return true;
  }
}
