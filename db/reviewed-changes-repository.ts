import { Binary, type Collection, type Db } from 'mongodb';
import type { GuardKey } from '../domain/guards';

/**
 * A part of a blocked run's reviewed changes: Lucca ids of one guard key, as an opaque payload of
 * 8-byte floats. Not an array field: FerretDB decodes a document field by field in Go, an array of
 * ten thousand numbers element by element.
 */
interface ReviewedPart {
  /** `<guard key>-<part>`, or `complete` for the marker written last. */
  _id: string;
  key?: GuardKey;
  payload?: Binary;
  /** On the marker: how many ids each key holds, to tell a whole set from one a crash cut short. */
  counts?: Record<GuardKey, number>;
}

const COMPLETE = 'complete';
const NAMESPACE_NOT_FOUND = 26;
const PREFIX = 'syncReviewed.';

function pack(ids: readonly number[]): Binary {
  const bytes = Buffer.alloc(ids.length * 8);
  ids.forEach((id, i) => bytes.writeDoubleLE(id, i * 8));
  return new Binary(bytes);
}

function unpack(payload: Binary): number[] {
  const bytes = Buffer.from(payload.buffer);
  const ids: number[] = [];
  for (let at = 0; at + 8 <= bytes.length; at += 8) ids.push(bytes.readDoubleLE(at));
  return ids;
}

/**
 * What a blocked run's guarded changes touch, kept for "apply anyway": per guard key, the Lucca ids
 * of the people (tens of thousands in a large company, so never in Temporal). In a collection of
 * the run's own, `syncReviewed.<companyId>.<runId>`, read whole in `_id` order (a few documents),
 * dropped as a whole. Not a run's working data: it outlives the run, for as long as the run can be
 * applied anyway (while it is its company's latest finished run; `dropOthers` at each run's finish).
 */
export class ReviewedChangesRepository {
  /** Ids per document: 80 kB; a company of a million people holds a hundred documents per key. */
  static readonly IDS_PER_DOCUMENT = 10_000;

  constructor(private readonly db: Db) {}

  async ensureIndexes(): Promise<void> {
    // Per-run collections, read whole.
  }

  private of(companyId: string, runId: string): Collection<ReviewedPart> {
    return this.db.collection<ReviewedPart>(`${PREFIX}${companyId}.${runId}`);
  }

  /** Stores a blocked run's reviewed changes, replacing what an earlier attempt stored. */
  async store(companyId: string, runId: string, people: ReadonlyMap<GuardKey, readonly number[]>): Promise<void> {
    const collection = this.of(companyId, runId);
    await dropIfPresent(collection);
    const per = ReviewedChangesRepository.IDS_PER_DOCUMENT;
    const docs: ReviewedPart[] = [];
    for (const [key, ids] of people) {
      for (let i = 0; i < ids.length; i += per) {
        docs.push({ _id: `${key}-${String(i / per).padStart(6, '0')}`, key, payload: pack(ids.slice(i, i + per)) });
      }
    }
    if (docs.length > 0) await collection.insertMany(docs, { ordered: false });
    const counts = Object.fromEntries([...people].map(([key, ids]) => [key, ids.length]));
    await collection.insertOne({ _id: COMPLETE, counts });
  }

  /** A run's reviewed changes per guard key; null when none are kept (never stored, or dropped). */
  async read(companyId: string, runId: string): Promise<Map<GuardKey, Set<number>> | null> {
    const people = new Map<GuardKey, Set<number>>();
    const read = new Map<GuardKey, number>();
    let counts: Record<GuardKey, number> | undefined;
    for await (const part of this.of(companyId, runId).find({}).sort({ _id: 1 })) {
      if (part._id === COMPLETE) {
        counts = part.counts;
        continue;
      }
      if (!part.key || !part.payload) continue;
      const set = people.get(part.key) ?? new Set<number>();
      const ids = unpack(part.payload);
      for (const id of ids) set.add(id);
      people.set(part.key, set);
      read.set(part.key, (read.get(part.key) ?? 0) + ids.length);
    }
    if (!counts) return null;
    for (const [key, n] of Object.entries(counts)) if ((read.get(key) ?? 0) !== n) return null;
    return people;
  }

  /**
   * Drops the reviewed changes of the company's runs, but `keep`'s: once a later run is over, an
   * earlier blocked run can no longer be applied anyway. Collection names are listed, nothing read.
   */
  async dropOthers(companyId: string, keep?: string): Promise<number> {
    const prefix = `${PREFIX}${companyId}.`;
    let dropped = 0;
    for (const { name } of await this.db.listCollections({}, { nameOnly: true }).toArray()) {
      if (!name.startsWith(prefix) || name === `${prefix}${keep}`) continue;
      await dropIfPresent(this.db.collection(name));
      dropped += 1;
    }
    return dropped;
  }
}

async function dropIfPresent(collection: Collection<ReviewedPart> | Collection): Promise<void> {
  try {
    await collection.drop();
  } catch (err) {
    if ((err as { code?: number }).code !== NAMESPACE_NOT_FOUND) throw err;
  }
}
