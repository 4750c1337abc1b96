import { BSON, ObjectId, type AnyBulkWriteOperation, type Collection, type Db, type Filter } from 'mongodb';
import { CompanyProfileIndex } from '../domain/profile-index';
import { isOutOfScope, isRemoval, keptFields, rebaseChange } from '../domain/plan';
import { sameExtraValue } from '../domain/extra-fields';
import { reason } from '../domain/reasons';
import {
  SYNCED_FIELDS,
  type ExtraValues,
  type LuccaPlacement,
  type PlacementUnit,
  type PlannedChange,
  type PlannedFrom,
  type ProfileSnapshot,
  type ProfileStatus,
  type Reason,
  type SyncedFields,
} from '../domain/types';
import { isDuplicateKeyOnly, isUniqueViolation } from './errors';
import {
  createQueryIndex,
  createUniqueWhereExists,
  slices,
  storeCapabilities,
  type StoreCapabilities,
} from './store-capabilities';

export interface ProfileDocument extends SyncedFields {
  _id: ObjectId;
  companyId: string;
  status: ProfileStatus;
  lucca?: {
    userId: number;
    linkedAt: Date;
    lastSeenAt: Date;
    removedAt?: Date | null;
    /** When a run found the user outside the company's scope and made the profile former; null once back. */
    outOfScopeAt?: Date | null;
    syncedValues: SyncedFields;
    /**
     * The Lucca tenant (normalised URL) the link was made under: a Lucca id means someone else in
     * another tenant. Absent on links made before it was recorded (read as the company's tenant).
     */
    tenant?: string;
    /**
     * The Lucca legal entity and department of the person as last synced (`legalEntity[id,name]`,
     * `department[id,name]` of the users page): what the console's list filters on. Absent on
     * profiles synced before they were recorded.
     */
    legalEntity?: PlacementUnit | null;
    department?: PlacementUnit | null;
    /**
     * The company's extra Lucca fields, by the key each is stored under (`companies.lucca.extraFields`);
     * a field removed with its values kept stays here, no longer written. Absent until one is synced.
     */
    extra?: ExtraValues;
    /** The extra fields as the last sync wrote them (like `syncedValues`). */
    syncedExtra?: ExtraValues;
  };
  createdAt: Date;
  updatedAt: Date;
}

/** What the console's list reads of a profile. */
export type ProfileListRow = Pick<
  ProfileDocument,
  '_id' | 'firstName' | 'lastName' | 'email' | 'status' | 'contractStart' | 'contractEnd'
> & { lucca?: Pick<NonNullable<ProfileDocument['lucca']>, 'userId' | 'legalEntity' | 'department'> };

const LIST_ROW_PROJECTION = {
  firstName: 1,
  lastName: 1,
  email: 1,
  status: 1,
  contractStart: 1,
  contractEnd: 1,
  'lucca.userId': 1,
  'lucca.legalEntity': 1,
  'lucca.department': 1,
} as const;

const SNAPSHOT_PROJECTION = {
  firstName: 1,
  lastName: 1,
  email: 1,
  birthDate: 1,
  contractStart: 1,
  contractEnd: 1,
  status: 1,
  'lucca.userId': 1,
  'lucca.syncedValues': 1,
  'lucca.removedAt': 1,
  'lucca.outOfScopeAt': 1,
  'lucca.tenant': 1,
  'lucca.legalEntity': 1,
  'lucca.department': 1,
  'lucca.extra': 1,
  'lucca.syncedExtra': 1,
} as const;

/** Where the profile records its person sits; undefined when it records nothing (synced before it was). */
function placementOf(lucca: NonNullable<ProfileDocument['lucca']>): LuccaPlacement | undefined {
  if (lucca.legalEntity === undefined && lucca.department === undefined) return undefined;
  return { legalEntity: lucca.legalEntity ?? null, department: lucca.department ?? null };
}

/** The `lucca.*` fields that record a placement, under `prefix` (`lucca.` for a `$set`, '' inside `lucca`). */
const placementSet = (placement: LuccaPlacement | undefined, prefix: string): Record<string, unknown> =>
  placement ? { [`${prefix}legalEntity`]: placement.legalEntity, [`${prefix}department`]: placement.department } : {};

const samePlacementUnit = (a: PlacementUnit | null | undefined, b: PlacementUnit | null) =>
  (a ?? null) === null ? b === null : b !== null && a!.id === b.id && a!.name === b.name;

function toSnapshot(doc: ProfileDocument): ProfileSnapshot {
  return {
    id: doc._id.toHexString(),
    fields: {
      firstName: doc.firstName ?? null,
      lastName: doc.lastName ?? null,
      email: doc.email ?? null,
      birthDate: doc.birthDate ?? null,
      contractStart: doc.contractStart ?? null,
      contractEnd: doc.contractEnd ?? null,
    },
    status: doc.status,
    ...(doc.lucca
      ? {
          lucca: {
            userId: doc.lucca.userId,
            syncedValues: doc.lucca.syncedValues ?? null,
            removedAt: doc.lucca.removedAt ?? null,
            outOfScopeAt: doc.lucca.outOfScopeAt ?? null,
            tenant: doc.lucca.tenant ?? null,
            ...(placementOf(doc.lucca) ? { placement: placementOf(doc.lucca) } : {}),
            ...(doc.lucca.extra || doc.lucca.syncedExtra
              ? { extra: doc.lucca.extra ?? null, syncedExtra: doc.lucca.syncedExtra ?? null }
              : {}),
          },
        }
      : {}),
  };
}

/**
 * The `$set` entries of a change's extra fields: each value under `lucca.extra.<key>`, and as
 * synced. One path per key, so a field removed with its values kept is left as it is.
 */
function extraSetOf(extra: ExtraValues | undefined): Record<string, unknown> {
  const set: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(extra ?? {})) {
    set[`lucca.extra.${key}`] = value;
    set[`lucca.syncedExtra.${key}`] = value;
  }
  return set;
}

/**
 * A change the apply step writes to a profile, as the planner decided it, with the seq of its
 * record in `syncChanges` (absent from plans made before it was kept), so the apply corrects the
 * report by the record's `_id` when the store did something else.
 */
export type ApplicableChange = PlannedChange & {
  profileId: string;
  seq?: number;
  /**
   * The whole profile as the plan read it, kept with the updates of a run that reads few people
   * (see `RunPlan`): the rewrite judges and deletes from it instead of reading the company again.
   * Only in the run's plan, never in its report.
   */
  before?: ProfileDocument;
};

/** A profile to create, and the change that plans it. */
export interface PlannedInsert {
  doc: ProfileDocument;
  change: ApplicableChange;
}

/**
 * One planned profile update: what to set, on the condition that the profile is still this Lucca
 * user's (or, for a link, nobody's) and still holds the values it was planned from (`change.from`).
 */
export interface PlannedUpdate {
  _id: ObjectId;
  userId: number;
  /** The Lucca tenant of the run: a profile linked under another one is not this user's. */
  tenant: string;
  /** A link also accepts a profile linked to nobody, or linked under another tenant. */
  linking: boolean;
  set: Record<string, unknown>;
  /** The change the update writes; made again from the profile when the platform changed it since (see `judge`). */
  change: ApplicableChange;
  /** When the writes were planned: the `updatedAt` and Lucca stamps of `set`. */
  at: Date;
}

/** A profile to rewrite: as it is, and as it will be. */
export interface RewriteEntry {
  before: ProfileDocument;
  after: ProfileDocument;
}

/** A planned write the store refused or whose profile was gone: reported as a conflict, nothing written. */
export interface Refusal {
  change: ApplicableChange;
  /** The report's record for it: a conflict whose reason says what happened and names the other profile. */
  conflict: ApplicableConflict;
}

/** A change record as the report keeps it, with the seq it was recorded under (absent in plans made before seqs were kept). */
export type ApplicableConflict = PlannedChange & { seq?: number };

/** What the store did with a command's worth of planned writes. */
export interface WriteOutcome {
  /** Profiles written as planned or made again, or found written by an earlier attempt of the same step. */
  written: number;
  refused: Refusal[];
}

/** What a rewrite did: profiles rewritten, and those left to update the plain way or refused. */
export interface RewriteOutcome {
  written: number;
  /** Profiles the platform changed between the rewrite's read and its delete: not deleted, left as they are. */
  left: ObjectId[];
  /** New versions a unique index refused (another profile took the value meanwhile): put back as they were. */
  refused: RewriteEntry[];
  /**
   * Profiles inserted again beyond those the delete removed: a profile the platform deleted
   * between the read and the delete is among them (which one cannot be told). Zero but in that race.
   */
  beyondDeleted: number;
}

/** Told of changes the apply makes again from the profile as it found it, before it writes them. */
export interface ApplyCorrections {
  rebased(changes: ApplicableChange[]): Promise<void>;
}

const noCorrections: ApplyCorrections = { rebased: async () => undefined };

/**
 * Most bytes of profiles one rewrite's delete names in its filter: half of the 16 MB a command
 * document may hold. A profile larger than this alone is updated the plain way.
 */
export const MAX_REWRITE_FILTER_BYTES = 8 * 1024 * 1024;

/**
 * Whether the update still holds for the profile: same company, same Lucca user of the same tenant
 * (a link made before links recorded their tenant is the company's), or — for a link — no Lucca
 * user, or one of another tenant (whose id means nothing here).
 */
function holds(update: PlannedUpdate, companyId: string, doc: Pick<ProfileDocument, 'companyId' | 'lucca'>): boolean {
  if (doc.companyId !== companyId) return false;
  const linkedTo = doc.lucca?.userId;
  const tenant = doc.lucca?.tenant ?? null;
  const sameTenant = tenant === null || tenant === update.tenant;
  if (linkedTo === update.userId && sameTenant) return true;
  return update.linking && (linkedTo === undefined || !sameTenant);
}

/** Whether the profile still holds what a change was planned from: core values, status, and the extra values it writes. */
const sameValues = (from: PlannedFrom, now: ProfileSnapshot) =>
  from.status === now.status &&
  SYNCED_FIELDS.every((f) => from.fields[f] === now.fields[f]) &&
  Object.entries(from.extra ?? {}).every(([key, value]) => sameExtraValue(value, now.lucca?.extra?.[key]));

/** What the apply compares of a profile: who it belongs to, its Lucca-owned values (extra ones too) and status. */
function stateOf(doc: ProfileDocument): string {
  const { fields, status } = toSnapshot(doc);
  return JSON.stringify([
    doc.companyId,
    doc.lucca?.userId ?? null,
    status,
    SYNCED_FIELDS.map((f) => fields[f]),
    doc.lucca?.extra ?? null,
  ]);
}

/**
 * The filter entries saying the profile still holds these extra values: a reference by its id and
 * name (not the object whole, whose equality would depend on the order of its fields), null also
 * matching a missing key.
 */
function extraConditionOf(extra: ExtraValues | undefined): Record<string, unknown> {
  const condition: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(extra ?? {})) {
    if (value !== null && typeof value === 'object') {
      condition[`lucca.extra.${key}.id`] = value.id;
      condition[`lucca.extra.${key}.name`] = value.name ?? null;
    } else condition[`lucca.extra.${key}`] = value;
  }
  return condition;
}

/**
 * Whether the profile holds what the update writes (an earlier attempt of the same step wrote it):
 * its Lucca user, Lucca's values — those the change keeps from the profile may be anything —,
 * the status, and whether it is marked removed.
 */
function writtenAlready(update: PlannedUpdate, doc: ProfileDocument): boolean {
  const target = update.change.target;
  if (!target || doc.lucca?.userId !== update.userId || doc.status !== target.status) return false;
  const kept = keptFields(update.change);
  const { fields } = toSnapshot(doc);
  const removed = doc.lucca.removedAt != null;
  const outOfScope = doc.lucca.outOfScopeAt != null;
  const placed =
    !target.placement ||
    (samePlacementUnit(doc.lucca.legalEntity, target.placement.legalEntity) &&
      samePlacementUnit(doc.lucca.department, target.placement.department));
  return (
    removed === isRemoval(update.change) &&
    outOfScope === isOutOfScope(update.change) &&
    placed &&
    SYNCED_FIELDS.every((f) => kept.includes(f) || fields[f] === target.fields[f]) &&
    Object.entries(target.extra ?? {}).every(([key, value]) => sameExtraValue(doc.lucca?.extra?.[key], value))
  );
}

type Verdict =
  /** Holds what it was planned from (or the plan recorded nothing): write as planned. */
  | { kind: 'write'; update: PlannedUpdate }
  /** Changed since the plan: the update made again from the profile as it is. */
  | { kind: 'rebase'; update: PlannedUpdate }
  | { kind: 'done' }
  | { kind: 'gone'; reason: Reason };

/** What to do with a planned update, given the profile as it is now (null: it is not there). */
function judge(update: PlannedUpdate, companyId: string, doc: ProfileDocument | null): Verdict {
  if (!doc) {
    return gone('the profile was deleted (or moved to another company) while the sync ran; nothing was written');
  }
  if (!holds(update, companyId, doc)) {
    const to = doc.lucca ? `Lucca user ${doc.lucca.userId}` : 'no Lucca user';
    return gone(
      doc.companyId === companyId
        ? `the profile was linked to ${to} while the sync ran; it was left as it is`
        : 'the profile was moved to another company while the sync ran; it was left as it is',
    );
  }
  if (writtenAlready(update, doc)) return { kind: 'done' };
  const current = toSnapshot(doc);
  const from = update.change.from;
  if (!from || sameValues(from, current)) return { kind: 'write', update };
  return {
    kind: 'rebase',
    update: updateOf(rebaseChange(update.change, current) as ApplicableChange, update.at, update.tenant),
  };
}

const gone = (message: string): Verdict => ({ kind: 'gone', reason: reason('changed-during-sync', message) });

const keptChanging = reason(
  'changed-during-sync',
  'the profile changed on the platform again while the sync wrote it; nothing was written',
);

/** The conflict a refused change becomes in the report. */
function conflictOf(change: ApplicableChange, why: Reason, holder?: ObjectId): ApplicableConflict {
  const profileId = change.action === 'create' ? holder?.toHexString() : change.profileId;
  return {
    action: 'conflict',
    luccaUserId: change.luccaUserId,
    ...(profileId ? { profileId } : {}),
    reasons: [why],
    ...(change.seq !== undefined ? { seq: change.seq } : {}),
  };
}

const refusal = (change: ApplicableChange, why: Reason, holder?: ObjectId): Refusal => ({
  change,
  conflict: conflictOf(change, why, holder),
});

const writtenOne = (): WriteOutcome => ({ written: 1, refused: [] });

function merge(into: WriteOutcome, outcome: WriteOutcome): WriteOutcome {
  into.written += outcome.written;
  into.refused.push(...outcome.refused);
  return into;
}

/** The `$set` that writes a link (recording its Lucca `tenant`) or an update of a linked profile, stamped `at`. */
function setOf(change: ApplicableChange, at: Date, tenant: string): Record<string, unknown> {
  const { fields, status, placement } = change.target!;
  const userId = change.luccaUserId!;
  const extra = change.target!.extra;
  if (change.action === 'link') {
    return {
      ...fields,
      status,
      lucca: {
        userId,
        linkedAt: at,
        lastSeenAt: at,
        syncedValues: fields,
        tenant,
        ...placementSet(placement, ''),
        ...(extra ? { extra, syncedExtra: extra } : {}),
      },
      updatedAt: at,
    };
  }
  return {
    ...fields,
    status,
    'lucca.syncedValues': fields,
    ...placementSet(placement, 'lucca.'),
    ...extraSetOf(extra),
    updatedAt: at,
    // A user present in Lucca (and in the scope) is no longer "removed" or "out of scope", whatever else changed.
    ...(isRemoval(change)
      ? { 'lucca.removedAt': at }
      : isOutOfScope(change)
        ? { 'lucca.outOfScopeAt': at }
        : { 'lucca.lastSeenAt': at, 'lucca.removedAt': null, 'lucca.outOfScopeAt': null }),
  };
}

function updateOf(change: ApplicableChange, at: Date, tenant: string): PlannedUpdate {
  return {
    _id: new ObjectId(change.profileId),
    userId: change.luccaUserId!,
    tenant,
    linking: change.action === 'link',
    set: setOf(change, at, tenant),
    change,
    at,
  };
}

/**
 * The filter of a conditioned update: the conditions of `holds` (`$in: [null, …]` also matches a
 * missing tenant), and the profile still holding the values and status the change was planned from.
 */
function conditionOf(update: PlannedUpdate, companyId: string): Filter<ProfileDocument> {
  const from = update.change.from;
  const sameUser = { 'lucca.userId': update.userId, 'lucca.tenant': { $in: [null, update.tenant] } };
  return {
    _id: update._id,
    companyId,
    ...(update.linking
      ? {
          $or: [
            { 'lucca.userId': { $exists: false } },
            sameUser,
            { 'lucca.tenant': { $exists: true, $nin: [null, update.tenant] } },
          ],
        }
      : sameUser),
    ...(from ? { ...from.fields, status: from.status, ...extraConditionOf(from.extra) } : {}),
  };
}

/**
 * A delete of exactly these documents as they were read: each field equal, not only the `_id`, so
 * a profile the platform changed since is not deleted. FerretDB evaluates the filter in Go for
 * every profile of the collection, and a branch of an `$or` costs it about 6 µs, a hundred
 * times a value of an `$in`: an `$or` of the documents themselves is quadratic (a delete of 3,000
 * of 20,000 profiles, 59–82 s against 8–14 s by `$in` of their ids). So the ids come first (as
 * before, an `$in`: only the batch's profiles go on), then the documents as a tree of `_id`
 * ranges, eight to a node, each profile following one path down to its own document (a few dozen
 * branches whatever the batch). Measured on FerretDB/SQLite at 30,000 profiles: 100, 1,000 and
 * 10,000 documents spread over the collection, 3.3, 3.5 and 13.5 s, against 3.2, 4.5 and 11.2 s
 * by `$in` alone.
 */
function exactly(docs: readonly ProfileDocument[]): Filter<ProfileDocument> {
  const sorted = [...docs].sort((a, b) => a._id.toHexString().localeCompare(b._id.toHexString()));
  return { _id: { $in: sorted.map((d) => d._id) }, ...rangeTree(sorted) };
}

const RANGE_FANOUT = 8;

/** Documents sorted by `_id`, as nested `$or`s of `_id` ranges down to the documents themselves. */
function rangeTree(sorted: readonly ProfileDocument[]): Filter<ProfileDocument> {
  if (sorted.length <= RANGE_FANOUT) return { $or: [...sorted] as Filter<ProfileDocument>[] };
  const size = Math.ceil(sorted.length / RANGE_FANOUT);
  const branches: Filter<ProfileDocument>[] = [];
  for (let i = 0; i < sorted.length; i += size) {
    const part = sorted.slice(i, i + size);
    branches.push({ _id: { $gte: part[0]!._id, $lte: part.at(-1)!._id }, ...rangeTree(part) });
  }
  return { $or: branches };
}

/** `entries` in groups whose documents take at most `MAX_REWRITE_FILTER_BYTES`, and those too large for any. */
function byFilterSize(entries: readonly RewriteEntry[]): { groups: RewriteEntry[][]; oversize: RewriteEntry[] } {
  const groups: RewriteEntry[][] = [];
  const oversize: RewriteEntry[] = [];
  let group: RewriteEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = BSON.calculateObjectSize(entry.before);
    if (size > MAX_REWRITE_FILTER_BYTES) {
      oversize.push(entry);
      continue;
    }
    if (group.length > 0 && bytes + size > MAX_REWRITE_FILTER_BYTES) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(entry);
    bytes += size;
  }
  if (group.length > 0) groups.push(group);
  return { groups, oversize };
}

/** `doc` with a `$set` applied (top-level and dotted keys), as the store would. */
function withSet(doc: ProfileDocument, set: Record<string, unknown>): ProfileDocument {
  // A BSON round trip copies ObjectIds and Dates as themselves (structuredClone would not).
  const after = BSON.deserialize(BSON.serialize(doc)) as Record<string, unknown>;
  for (const [key, value] of Object.entries(set)) {
    const path = key.split('.');
    let into = after;
    for (const step of path.slice(0, -1)) {
      const next = into[step];
      if (next === null || typeof next !== 'object') into[step] = {};
      into = into[step] as Record<string, unknown>;
    }
    into[path.at(-1)!] = value;
  }
  return after as unknown as ProfileDocument;
}

/** Profiles holding a value a refused write needed, for the report. */
type Holder = Pick<ProfileDocument, '_id' | 'companyId' | 'email' | 'lucca'>;

/** Who holds a profile by id, for the report: the profile, and the Lucca user it is linked to. */
const describeHolder = (holder: Holder) =>
  `profile ${holder._id.toHexString()} (${holder.lucca ? `linked to Lucca user ${holder.lucca.userId}` : 'not linked to Lucca'})`;

export class ProfilesRepository {
  static readonly collectionName = 'profiles';
  private readonly collection: Collection<ProfileDocument>;

  constructor(private readonly db: Db) {
    this.collection = db.collection<ProfileDocument>(ProfilesRepository.collectionName);
  }

  /** How this store takes writes (see `StoreCapabilities`). */
  capabilities(): Promise<StoreCapabilities> {
    return storeCapabilities(this.db);
  }

  async ensureIndexes(): Promise<void> {
    // One profile per Lucca user and company — what makes retried creates harmless.
    await createUniqueWhereExists(this.db, this.collection, { companyId: 1, 'lucca.userId': 1 }, 'lucca.userId', {
      name: 'company_lucca_user',
    });
    await createQueryIndex(this.db, this.collection, { companyId: 1, email: 1 }, { name: 'company_email' });
  }

  /**
   * Everything the planner needs of a company's profiles, read in one pass. One pass matters:
   * FerretDB 1.x scans a collection for every query (no index pushdown), so per-batch lookups
   * would cost a scan each (matching in Lucca-id order with emails looked up in bulk would keep
   * the worker's memory page-sized, at a scan of the collection per page). The index keeps each
   * profile packed (see `CompanyProfileIndex`).
   */
  async loadCompanyIndex(
    companyId: string,
    tenant: string,
    onProgress?: (profilesRead: number) => void,
    /** Given, each profile is read whole and handed to it too (FerretDB projects after decoding anyway). */
    whole?: (doc: ProfileDocument) => void,
  ): Promise<CompanyProfileIndex> {
    const index = new CompanyProfileIndex(tenant);
    let read = 0;
    const cursor = this.collection.find(
      { companyId },
      { batchSize: 2000, ...(whole ? {} : { projection: SNAPSHOT_PROJECTION }) },
    );
    for await (const doc of cursor) {
      index.add(toSnapshot(doc));
      whole?.(doc);
      if (++read % 1000 === 0) onProgress?.(read);
    }
    return index;
  }

  /**
   * The profile writes of planned changes: the profiles to create, and the updates of existing
   * ones, each conditioned on the profile still being this Lucca user's (or, for a link, nobody's)
   * and still holding the values it was planned from. Links and created profiles record `tenant`,
   * the Lucca tenant they were made under. Every write is idempotent — an insert of the
   * planned profile id, a `$set` of planned values — so a retried apply converges on the same profiles.
   */
  plannedWrites(
    companyId: string,
    changes: readonly ApplicableChange[],
    now: Date,
    tenant: string,
  ): { inserts: PlannedInsert[]; updates: PlannedUpdate[] } {
    const inserts: PlannedInsert[] = [];
    const updates: PlannedUpdate[] = [];
    for (const change of changes) {
      const target = change.target;
      if (!target || change.luccaUserId === null) continue;
      switch (change.action) {
        case 'create':
          inserts.push({
            change,
            doc: {
              _id: new ObjectId(change.profileId),
              companyId,
              ...target.fields,
              status: target.status,
              lucca: {
                userId: change.luccaUserId,
                linkedAt: now,
                lastSeenAt: now,
                syncedValues: target.fields,
                tenant,
                ...placementSet(target.placement, ''),
                ...(target.extra ? { extra: target.extra, syncedExtra: target.extra } : {}),
              },
              createdAt: now,
              updatedAt: now,
            },
          });
          break;
        case 'link':
        case 'update':
        case 'deactivate':
        case 'reactivate':
          updates.push(updateOf(change, now, tenant));
          break;
        default:
          break;
      }
    }
    return { inserts, updates };
  }

  /**
   * Updates the profiles one by one, in commands the store can take, yielding what each command
   * did. A profile the platform changed since the plan is updated from what it holds now (Lucca
   * still wins; `corrections` hears of it before the write), one that is gone or whose write a
   * unique index refuses is reported refused.
   */
  async *updateEach(
    companyId: string,
    updates: readonly PlannedUpdate[],
    corrections: ApplyCorrections = noCorrections,
  ): AsyncGenerator<WriteOutcome> {
    const caps = await storeCapabilities(this.db);
    for (const slice of slices(updates, caps.maxUpdatesPerCommand)) {
      if (caps.multiKeyFilterPushdown) {
        yield await this.updateWhereUnchanged(companyId, slice, corrections);
      } else {
        const outcome: WriteOutcome = { written: 0, refused: [] };
        for (const update of slice) merge(outcome, await this.updateById(companyId, update, corrections));
        yield outcome;
      }
    }
  }

  /**
   * The first step of a rewrite (see `StoreCapabilities.rewriteFrom`): the company's profiles read
   * in one query, each planned update judged against its profile as it is (see `updateEach`), and
   * the profiles to rewrite returned as they are and as they will be. The caller journals them
   * before `rewrite`. Changes made again are told to `corrections` before anything is written.
   */
  async readForRewrite(
    companyId: string,
    updates: readonly PlannedUpdate[],
    corrections: ApplyCorrections = noCorrections,
    /** Judge the updates planned with their whole profile (`change.before`) from it, and read the company only for the others. */
    opts: { asPlanned?: boolean } = {},
  ): Promise<{ entries: RewriteEntry[]; outcome: WriteOutcome }> {
    const wanted = new Map(updates.map((u) => [u._id.toHexString(), u]));
    const entries: RewriteEntry[] = [];
    const outcome: WriteOutcome = { written: 0, refused: [] };
    const rebased: ApplicableChange[] = [];
    const judged = (update: PlannedUpdate, doc: ProfileDocument | null) => {
      const verdict = judge(update, companyId, doc);
      if (verdict.kind === 'done') outcome.written += 1;
      else if (verdict.kind === 'gone') outcome.refused.push(refusal(update.change, verdict.reason));
      else {
        if (verdict.kind === 'rebase') rebased.push(verdict.update.change);
        entries.push({ before: doc!, after: withSet(doc!, verdict.update.set) });
      }
    };
    if (opts.asPlanned) {
      for (const update of updates) {
        if (!update.change.before) continue;
        wanted.delete(update._id.toHexString());
        judged(update, update.change.before);
      }
    }
    // The company's profiles, picked here: FerretDB evaluates `$in` by comparing each document of
    // the collection with every listed value in turn (`filterFieldExpr` in its source); reading the
    // company is one pass whatever the batch.
    const cursor = wanted.size > 0 ? this.collection.find({ companyId }) : [];
    for await (const doc of cursor) {
      const id = doc._id.toHexString();
      const update = wanted.get(id);
      if (!update) continue;
      wanted.delete(id);
      judged(update, doc);
    }
    for (const update of wanted.values()) judged(update, null);
    if (rebased.length > 0) await corrections.rebased(rebased);
    return { entries, outcome };
  }

  /**
   * Replaces each profile by its new version: one delete of them all, conditioned on each being
   * exactly as read (see `exactly`), then one insert. A profile the platform changed since the read
   * is not deleted and is left as the platform wrote it (`left`: the caller updates it the plain
   * way); a profile is missing only between the delete and the insert that follows it at once. A
   * new version the store refuses (a unique index another profile took meanwhile) is put back as
   * it was. Safe to repeat from its journal after a crash at any point.
   */
  async rewrite(entries: readonly RewriteEntry[]): Promise<RewriteOutcome> {
    const outcome: RewriteOutcome = { written: 0, left: [], refused: [], beyondDeleted: 0 };
    const { groups, oversize } = byFilterSize(entries);
    outcome.left.push(...oversize.map((e) => e.before._id));
    for (const group of groups) {
      const { deletedCount } = await this.collection.deleteMany(exactly(group.map((e) => e.before)));
      // Nothing between the delete and the insert: that is how long a profile is missing.
      const refused = await this.insertNew(group.map((e) => e.after));
      const inserted = group.length - refused.size;
      let putBack = 0;
      if (refused.size > 0) {
        // Told apart by the documents' own ids: still there, the delete left it (changed since the
        // read); gone, the delete removed it and another profile took one of its unique values.
        const present = await this.present(group[0]!.before.companyId, refused);
        const back: RewriteEntry[] = [];
        for (const entry of group) {
          const id = entry.after._id.toHexString();
          if (!refused.has(id)) continue;
          if (present.has(id)) outcome.left.push(entry.after._id);
          else back.push(entry);
        }
        putBack = back.length - (await this.insertNew(back.map((e) => e.before))).size;
        outcome.refused.push(...back);
      }
      outcome.written += inserted;
      outcome.beyondDeleted += Math.max(0, inserted + putBack - deletedCount);
    }
    return outcome;
  }

  /** Inserts documents, each on its own: returns the ids the store refused (a unique index: present already, or a value taken). */
  private async insertNew(docs: ProfileDocument[]): Promise<Set<string>> {
    if (docs.length === 0) return new Set();
    try {
      await this.collection.insertMany(docs, { ordered: false });
      return new Set();
    } catch (err) {
      if (!isDuplicateKeyOnly(err)) throw err;
      const errors = (err as { writeErrors?: { index?: number }[] | { index?: number } }).writeErrors;
      const indexes = (Array.isArray(errors) ? errors : errors ? [errors] : []).map((e) => e.index);
      if (indexes.length > 0 && indexes.every((i): i is number => typeof i === 'number')) {
        return new Set(indexes.map((i) => docs[i]!._id.toHexString()));
      }
      // No index to tell them apart: whatever is not there now was refused.
      const ids = docs.map((d) => d._id.toHexString());
      const present = await this.present(docs[0]!.companyId, ids);
      return new Set(ids.filter((id) => !present.has(id)));
    }
  }

  /**
   * Which of these profiles (hex ids) of the company exist (one query; only on the paths where
   * something went other than planned). Named with their company: FerretDB on PostgreSQL evaluates
   * `{companyId}` in SQL and no `$in`: the ids alone would have it decode every profile of every
   * company, the company named only that company's.
   */
  private async present(companyId: string, ids: Iterable<string>): Promise<Set<string>> {
    const docs = await this.collection
      .find({ companyId, _id: { $in: [...ids].map((id) => new ObjectId(id)) } }, { projection: { _id: 1 } })
      .toArray();
    return new Set(docs.map((d) => d._id.toHexString()));
  }

  /**
   * MongoDB, and FerretDB on PostgreSQL (which evaluates equality filters in SQL): each update's
   * filter carries its conditions, one write per profile. Those that matched nothing, and every
   * update of a command a unique index refused (FerretDB stops such a command where it failed),
   * are settled one by one from the profiles as they are now.
   */
  private async updateWhereUnchanged(
    companyId: string,
    updates: PlannedUpdate[],
    corrections: ApplyCorrections,
  ): Promise<WriteOutcome> {
    const ops: AnyBulkWriteOperation<ProfileDocument>[] = updates.map((u) => ({
      updateOne: { filter: conditionOf(u, companyId), update: { $set: u.set } },
    }));
    try {
      const { matchedCount } = await this.collection.bulkWrite(ops, { ordered: false });
      if (matchedCount === updates.length) return { written: matchedCount, refused: [] };
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
    // The company named too (see `present`): this runs on every retry of a half-applied batch.
    const docs = await this.collection.find({ companyId, _id: { $in: updates.map((u) => u._id) } }).toArray();
    const byId = new Map(docs.map((d) => [d._id.toHexString(), d]));
    const outcome: WriteOutcome = { written: 0, refused: [] };
    for (const update of updates) {
      merge(outcome, await this.settle(companyId, update, byId.get(update._id.toHexString()) ?? null, corrections));
    }
    return outcome;
  }

  /**
   * One update, judged against its profile as found and written on the same condition. A profile
   * changed again between that read and the write is given up as a conflict rather than chased.
   */
  private async settle(
    companyId: string,
    update: PlannedUpdate,
    doc: ProfileDocument | null,
    corrections: ApplyCorrections,
    again = false,
  ): Promise<WriteOutcome> {
    const verdict = judge(update, companyId, doc);
    if (verdict.kind === 'done') return writtenOne();
    if (verdict.kind === 'gone') return { written: 0, refused: [refusal(update.change, verdict.reason)] };
    if (again) return { written: 0, refused: [refusal(update.change, keptChanging)] };
    if (verdict.kind === 'rebase') await corrections.rebased([verdict.update.change]);
    const next = verdict.update;
    try {
      const { matchedCount } = await this.collection.updateOne(conditionOf(next, companyId), { $set: next.set });
      if (matchedCount === 1) return writtenOne();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      return { written: 0, refused: [await this.refusedByIndex(companyId, next)] };
    }
    return this.settle(companyId, next, await this.collection.findOne({ _id: next._id }), corrections, true);
  }

  /**
   * FerretDB on SQLite evaluates a filter of `_id` alone in SQL and decodes every document of the
   * collection in Go for any other, so a conditioned update there would cost a decode of the
   * collection each. Instead each profile is read by `_id`, judged (see `judge`), and written by
   * `_id` with `findAndModify`, which answers the profile as it was just before the write: a
   * platform write that landed in between is seen there. Lucca still wins over a changed value
   * (reported from what the platform wrote, and a value the change keeps is put back as the
   * platform wrote it); a profile that changed hands meanwhile is put back whole.
   */
  private async updateById(
    companyId: string,
    update: PlannedUpdate,
    corrections: ApplyCorrections,
  ): Promise<WriteOutcome> {
    const found = await this.collection.findOne({ _id: update._id });
    const verdict = judge(update, companyId, found);
    if (verdict.kind === 'done') return writtenOne();
    if (verdict.kind === 'gone') return { written: 0, refused: [refusal(update.change, verdict.reason)] };
    if (verdict.kind === 'rebase') await corrections.rebased([verdict.update.change]);
    const written = verdict.update;
    let before: ProfileDocument | null;
    try {
      before = await this.collection.findOneAndUpdate(
        { _id: written._id },
        { $set: written.set },
        { returnDocument: 'before' },
      );
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      return { written: 0, refused: [await this.refusedByIndex(companyId, written)] };
    }
    if (before && stateOf(before) === stateOf(found!)) return writtenOne();
    // The platform wrote to the profile between the read and the write.
    const seen = judge(written, companyId, before);
    if (seen.kind === 'gone') {
      if (before) await this.collection.replaceOne({ _id: before._id }, before);
      return { written: 0, refused: [refusal(update.change, seen.reason)] };
    }
    if (seen.kind !== 'rebase') return writtenOne();
    // Lucca's values are written; the report says they replaced the platform's, and what the change keeps is the platform's.
    await corrections.rebased([seen.update.change]);
    const keptBack = Object.fromEntries(
      keptFields(seen.update.change)
        .filter((f) => seen.update.change.target!.fields[f] !== written.change.target!.fields[f])
        .map((f) => [f, seen.update.change.target!.fields[f]]),
    );
    if (Object.keys(keptBack).length > 0) {
      await this.collection.updateOne(
        { _id: written._id },
        { $set: { ...keptBack, 'lucca.syncedValues': seen.update.change.target!.fields } },
      );
    }
    return writtenOne();
  }

  /**
   * Ids are chosen at plan time: a retried insert meets its own earlier copy, found by its id and
   * counted as written. Any other create a unique index refuses — another profile took the Lucca
   * user or the email since the plan — is not created, and is returned refused naming that profile.
   */
  async insertPlanned(companyId: string, inserts: readonly PlannedInsert[]): Promise<WriteOutcome> {
    if (inserts.length === 0) return { written: 0, refused: [] };
    const refusedIds = await this.insertNew(inserts.map((i) => i.doc));
    if (refusedIds.size === 0) return { written: inserts.length, refused: [] };
    const own = await this.present(companyId, refusedIds);
    const refused = inserts.filter((i) => refusedIds.has(i.doc._id.toHexString()) && !own.has(i.doc._id.toHexString()));
    const holders = await this.holders(
      companyId,
      refused.map((i) => ({ userId: i.change.luccaUserId!, email: i.doc.email })),
    );
    return {
      written: inserts.length - refused.length,
      refused: refused.map((i) => this.explain(companyId, i.change, i.doc, holders, 'no profile was created')),
    };
  }

  /** A write a unique index refused: reported naming the profile that holds the value. */
  private async refusedByIndex(companyId: string, update: PlannedUpdate): Promise<Refusal> {
    const email = update.change.target?.fields.email ?? null;
    const holders = await this.holders(companyId, [{ userId: update.userId, email }]);
    const self = { _id: update._id, email } as Pick<ProfileDocument, '_id' | 'email'>;
    return this.explain(companyId, update.change, self, holders, 'the profile was left as it is');
  }

  /** The profiles of the company linked to these Lucca users, and every profile with these emails. */
  private holders(companyId: string, wanted: { userId: number; email: string | null }[]): Promise<Holder[]> {
    const emails = wanted.map((w) => w.email).filter((e): e is string => e !== null);
    return this.collection
      .find(
        {
          $or: [
            { companyId, 'lucca.userId': { $in: wanted.map((w) => w.userId) } },
            ...(emails.length > 0 ? [{ email: { $in: emails } }] : []),
          ],
        },
        { projection: { companyId: 1, email: 1, 'lucca.userId': 1 } },
      )
      .toArray();
  }

  /** Why a unique index refused a write of `change` (for profile `self`), naming the profile in the way. */
  private explain(
    companyId: string,
    change: ApplicableChange,
    self: Pick<ProfileDocument, '_id' | 'email'>,
    holders: Holder[],
    outcome: string,
  ): Refusal {
    const others = holders.filter((h) => !h._id.equals(self._id));
    const byUser = others.find((h) => h.companyId === companyId && h.lucca?.userId === change.luccaUserId);
    if (byUser) {
      const why = `${describeHolder(byUser)} was linked to this Lucca user while the sync ran; ${outcome}`;
      return refusal(change, reason('changed-during-sync', why), byUser._id);
    }
    const byEmail = self.email === null ? undefined : others.find((h) => h.email === self.email);
    if (byEmail && byEmail.companyId === companyId) {
      const why = `the email was given to ${describeHolder(byEmail)} while the sync ran; ${outcome}`;
      return refusal(change, reason('email-taken-at-apply', why), byEmail._id);
    }
    if (byEmail) {
      const why = `the email belongs to a profile of another company (the platform keeps emails unique across companies); ${outcome}`;
      return refusal(change, reason('email-taken-at-apply', why));
    }
    return refusal(
      change,
      reason('changed-during-sync', `a unique index of the platform refused the write; ${outcome}`),
    );
  }

  /**
   * Every profile of a company, with what the console's list shows and filters on, streamed. One
   * read of the company: FerretDB evaluates neither the filter nor a sort in SQL (it decodes every
   * profile of the collection, 38 s for 100,000 on SQLite, docs/benchmarks.md), so the console
   * reads a company once into its directory and pages from there, instead of one such read (and
   * one more to count) per page.
   */
  listRows(companyId: string): AsyncIterable<ProfileListRow> {
    return this.collection.find<ProfileListRow>({ companyId }, { projection: LIST_ROW_PROJECTION, batchSize: 1_000 });
  }

  /** How many of a company's profiles are linked to a Lucca user. */
  countLinked(companyId: string): Promise<number> {
    return this.collection.countDocuments({ companyId, 'lucca.userId': { $exists: true } });
  }

  /**
   * Unlinks every profile of a company (the company moved to another Lucca tenant, whose user ids
   * mean other people): each profile keeps its values and status, loses its Lucca link, and the
   * next sync attaches it again by email. One statement: FerretDB reads the company once, then
   * updates each profile by `_id`. Returns how many were unlinked.
   */
  async unlinkCompany(companyId: string, now: Date): Promise<number> {
    const res = await this.collection.updateMany(
      { companyId, 'lucca.userId': { $exists: true } },
      { $unset: { lucca: '' }, $set: { updatedAt: now } },
    );
    return res.modifiedCount;
  }

  /**
   * Unlinks the company's profiles linked under another Lucca tenant than `tenant` (what a tenant
   * switch that raced a run's writes leaves): they keep their values and status, and the run
   * attaches them again by email. Returns how many were unlinked.
   */
  async unlinkOtherTenants(companyId: string, tenant: string, now: Date): Promise<number> {
    const res = await this.collection.updateMany(
      { companyId, 'lucca.tenant': { $exists: true, $nin: [null, tenant] } },
      { $unset: { lucca: '' }, $set: { updatedAt: now } },
    );
    return res.modifiedCount;
  }

  /** One profile of a company, or null (another company's profile is not found either). */
  get(companyId: string, profileId: ObjectId): Promise<ProfileDocument | null> {
    return this.collection.findOne({ _id: profileId, companyId });
  }
}
