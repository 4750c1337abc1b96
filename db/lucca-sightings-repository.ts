import { Binary, type Collection, type Db } from 'mongodb';

/**
 * When a run's read of Lucca last returned each Lucca user of a company: what the profile page
 * calls "last seen in Lucca". Writing it on each profile would be a profile write per person per
 * run (FerretDB finds the document of every update with a scan of the collection: 0.5 s each at
 * 100,000 profiles on SQLite), and would break "an unchanged re-run writes no profile". Instead a
 * run writes a few documents: the company's users by blocks of 65,536 ids, each block one document
 * (`_id` `<company>:<block>`, the one filter FerretDB evaluates in SQL) holding its users' ids and
 * times packed (10 bytes a user, at most 640 KB a block), read and written whole by `_id`.
 */
export interface LuccaSightingsDocument {
  _id: string;
  companyId: string;
  /** The Lucca tenant (normalised URL) the ids belong to: another tenant's ids are other people. */
  tenant: string;
  /** The latest run that recorded its read here. */
  runId: string;
  /** Pairs (id within the block: uint16, time in ms: float64), little-endian, sorted by id. */
  seen: Binary;
}

const BLOCK_BITS = 16;
const BLOCK = 1 << BLOCK_BITS;
const PAIR_BYTES = 10;

const blockOf = (userId: number) => Math.floor(userId / BLOCK);
const docId = (companyId: string, block: number) => `${companyId}:${block}`;

function unpack(seen: Binary | undefined): Map<number, number> {
  const bytes = seen ? Buffer.from(seen.buffer) : Buffer.alloc(0);
  const times = new Map<number, number>();
  for (let at = 0; at + PAIR_BYTES <= bytes.length; at += PAIR_BYTES) {
    times.set(bytes.readUInt16LE(at), bytes.readDoubleLE(at + 2));
  }
  return times;
}

function pack(times: Map<number, number>): Binary {
  const ids = [...times.keys()].sort((a, b) => a - b);
  const bytes = Buffer.alloc(ids.length * PAIR_BYTES);
  ids.forEach((id, i) => {
    bytes.writeUInt16LE(id, i * PAIR_BYTES);
    bytes.writeDoubleLE(times.get(id)!, i * PAIR_BYTES + 2);
  });
  return new Binary(bytes);
}

export class LuccaSightingsRepository {
  static readonly collectionName = 'luccaSightings';
  private readonly collection: Collection<LuccaSightingsDocument>;

  constructor(db: Db) {
    this.collection = db.collection<LuccaSightingsDocument>(LuccaSightingsRepository.collectionName);
  }

  async ensureIndexes(): Promise<void> {
    // Read and written by `_id` only.
  }

  /**
   * Records that a run's read returned these users at `at`: one read and one write by `_id` per
   * block of ids the users fall in. A block recorded under another tenant starts afresh. Doing it
   * again (a retried read) writes the same thing with a later time.
   */
  async record(companyId: string, tenant: string, runId: string, at: Date, userIds: Iterable<number>): Promise<void> {
    const byBlock = new Map<number, number[]>();
    for (const id of userIds) {
      if (!Number.isSafeInteger(id) || id < 0) continue;
      const block = blockOf(id);
      const ids = byBlock.get(block);
      if (ids) ids.push(id - block * BLOCK);
      else byBlock.set(block, [id - block * BLOCK]);
    }
    for (const [block, ids] of byBlock) {
      const _id = docId(companyId, block);
      const doc = await this.collection.findOne({ _id });
      const times = doc && doc.tenant === tenant ? unpack(doc.seen) : new Map<number, number>();
      for (const id of ids) times.set(id, at.getTime());
      await this.collection.replaceOne({ _id }, { companyId, tenant, runId, seen: pack(times) }, { upsert: true });
    }
  }

  /** When a run's read last returned this Lucca user of the company's tenant, or null (never recorded). */
  async lastSeen(companyId: string, tenant: string, userId: number): Promise<Date | null> {
    if (!Number.isSafeInteger(userId) || userId < 0) return null;
    const block = blockOf(userId);
    const doc = await this.collection.findOne({ _id: docId(companyId, block) });
    if (!doc || doc.tenant !== tenant) return null;
    const bytes = Buffer.from(doc.seen.buffer);
    const wanted = userId - block * BLOCK;
    let lo = 0;
    let hi = bytes.length / PAIR_BYTES - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const id = bytes.readUInt16LE(mid * PAIR_BYTES);
      if (id === wanted) return new Date(bytes.readDoubleLE(mid * PAIR_BYTES + 2));
      if (id < wanted) lo = mid + 1;
      else hi = mid - 1;
    }
    return null;
  }
}
