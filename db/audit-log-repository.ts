import { randomUUID } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import { takeExpiringLock, type LockDocument } from './expiring-lock';

/** Values an audit entry may carry as parameters: flags, frequencies, ids, counts — never a key or personal data. */
export type AuditParams = Record<string, string | number | boolean | null>;

export type AuditOutcome = 'ok' | 'refused' | 'error';

/** One operator action on one company: who, when, what, with which settings, and how it ended. */
export interface AuditEntry {
  /** Per company, increasing: the order actions were recorded in, and the listing's cursor. */
  seq: number;
  at: Date;
  companyId: string;
  /** The operator's handle: the console account, or the CLI's OS user (or `--requested-by`). */
  actor: string;
  source: 'console' | 'cli';
  action: string;
  params: AuditParams;
  outcome: AuditOutcome;
  /** Why it was refused or failed: an operation's error code, never its message. */
  code: string | null;
}

export type NewAuditEntry = Omit<AuditEntry, 'seq'>;

/** A company's entries, a bucket's worth to a document, oldest first within it. */
interface AuditBucketDocument {
  _id: string;
  companyId: string;
  bucket: number;
  entries: AuditEntry[];
}

/** Where a company's log stands: its last seq and its oldest bucket still kept. */
interface AuditHeadDocument {
  _id: string;
  seq: number;
  firstBucket: number;
  /** When the newest entry was recorded: no later entry is recorded earlier (see `append`). */
  lastAt?: Date;
}

export const DEFAULT_BUCKET_SIZE = 50;
/** A company's writer lock (`takeExpiringLock`): an append is a few writes, so one this old is a dead writer's. */
const LOCK_STALE_MS = 15_000;
const LOCK_WAIT_MS = 20_000;

const bucketId = (companyId: string, bucket: number) => `${companyId}:${String(bucket).padStart(9, '0')}`;
const lockId = (companyId: string) => `${companyId}:lock`;

export interface AuditListOptions {
  /** Newest first, at most this many. */
  limit: number;
  /** Only entries recorded before this seq (the next page of a listing). */
  beforeSeq?: number;
  /** Only entries recorded at or after this time. */
  since?: Date;
}

/**
 * The audit log, keyed by company so that every read and write is a lookup by `_id` — the one
 * filter FerretDB pushes down; any other filter decodes every document of the collection. A
 * company's entries are grouped `DEFAULT_BUCKET_SIZE` to a document: listing the latest entries reads
 * the company's head and one or two buckets, whatever the size of the log.
 *
 * FerretDB applies an update by reading the document and writing it back, so two concurrent
 * `$push`es to one document can lose one (seen here: 22 of 40 kept). Appends therefore hold a
 * per-company lock taken by inserting a document with a unique `_id`, which is atomic on
 * FerretDB and MongoDB alike; an audit log must not lose entries.
 */
export class AuditLogRepository {
  static readonly collectionName = 'auditLog';
  static readonly headsCollectionName = 'auditLogHeads';
  private readonly buckets: Collection<AuditBucketDocument>;
  private readonly heads: Collection<AuditHeadDocument>;
  private readonly locks: Collection<LockDocument>;
  private readonly bucketSize: number;

  /** `bucketSize`: entries per document (small in tests, to cross buckets quickly). */
  constructor(db: Db, opts: { bucketSize?: number } = {}) {
    this.bucketSize = opts.bucketSize ?? DEFAULT_BUCKET_SIZE;
    this.buckets = db.collection<AuditBucketDocument>(AuditLogRepository.collectionName);
    // Heads and locks are small and many times more read: their own collection keeps their lookups cheap.
    this.heads = db.collection<AuditHeadDocument>(AuditLogRepository.headsCollectionName);
    this.locks = db.collection<LockDocument>(AuditLogRepository.headsCollectionName);
  }

  private bucketOf(seq: number): number {
    return Math.floor((seq - 1) / this.bucketSize);
  }

  async ensureIndexes(): Promise<void> {
    // Every query is by `_id` (company slug, `<company>:<bucket>`, `<company>:lock`).
  }

  /**
   * Appends an entry to its company's log and returns it with its seq. Buckets whose entries are
   * all older than `retainAfter` are dropped as a new bucket starts.
   */
  async append(entry: NewAuditEntry, retainAfter: Date): Promise<AuditEntry> {
    const { companyId } = entry;
    const release = await this.lock(companyId);
    try {
      const head = (await this.heads.findOne({ _id: companyId })) ?? { _id: companyId, seq: 0, firstBucket: 0 };
      const seq = head.seq + 1;
      const bucket = this.bucketOf(seq);
      let firstBucket = head.firstBucket;
      if (bucket !== this.bucketOf(head.seq)) {
        firstBucket = await this.dropExpired(companyId, firstBucket, bucket, retainAfter);
      }
      // In seq order, times never go back (concurrent actions, replicas' clocks a few ms apart), so
      // a listing from a date stops at the first older entry.
      const at = head.lastAt && head.lastAt > entry.at ? head.lastAt : entry.at;
      // The head first: a crash in between leaves a gap in the seqs, never two entries with one seq.
      await this.heads.updateOne({ _id: companyId }, { $set: { seq, firstBucket, lastAt: at } }, { upsert: true });
      const stored: AuditEntry = { ...entry, at, seq };
      await this.buckets.updateOne(
        { _id: bucketId(companyId, bucket) },
        { $push: { entries: stored }, $setOnInsert: { companyId, bucket } },
        { upsert: true },
      );
      return stored;
    } finally {
      await release();
    }
  }

  /** The company's entries, newest first, recorded after `retainAfter`. */
  async list(companyId: string, opts: AuditListOptions, retainAfter: Date): Promise<AuditEntry[]> {
    const head = await this.heads.findOne({ _id: companyId });
    if (!head || head.seq === 0) return [];
    const since = opts.since && opts.since > retainAfter ? opts.since : retainAfter;
    const last = Math.min(head.seq, (opts.beforeSeq ?? Infinity) - 1);
    const found: AuditEntry[] = [];
    for (let bucket = this.bucketOf(last); bucket >= head.firstBucket && found.length < opts.limit; bucket--) {
      const doc = await this.buckets.findOne({ _id: bucketId(companyId, bucket) });
      const entries = (doc?.entries ?? []).filter((e) => e.seq <= last).reverse();
      for (const e of entries) {
        if (e.at < since) return found;
        found.push(e);
        if (found.length === opts.limit) break;
      }
    }
    return found;
  }

  private async dropExpired(companyId: string, first: number, current: number, retainAfter: Date): Promise<number> {
    let bucket = first;
    for (; bucket < current; bucket++) {
      const doc = await this.buckets.findOne({ _id: bucketId(companyId, bucket) });
      const newest = doc?.entries.at(-1);
      if (newest && newest.at >= retainAfter) break;
      await this.buckets.deleteOne({ _id: bucketId(companyId, bucket) });
    }
    return bucket;
  }

  private async lock(companyId: string): Promise<() => Promise<void>> {
    const lock = await takeExpiringLock(
      this.locks,
      { _id: lockId(companyId), holder: randomUUID() },
      {
        lapseMs: LOCK_STALE_MS,
        waitMs: LOCK_WAIT_MS,
        // Backing off: waiting writers polling hard slow down the one holding the lock.
        pauseMs: (attempt) => Math.random() * Math.min(500, 20 * 2 ** attempt),
      },
    );
    if (!lock.held) throw new Error(`The audit log of "${companyId}" stayed locked for too long.`);
    return lock.release;
  }
}
