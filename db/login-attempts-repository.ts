import { createHash } from 'node:crypto';
import { MongoServerError, type Collection, type Db } from 'mongodb';
import { isDuplicateKeyOnly } from './errors';
import { forgetAt, lockAfterFailure, type AttemptState, type LockoutPolicy } from '../domain/login-lockout';

/**
 * Failed console logins, per account and per client address, so throttling holds across console
 * restarts and replicas. Keys are a SHA-256 of `<kind>:<value>`: the collection keeps neither the
 * addresses nor the names tried.
 *
 * Each failure claims the next numbered slot, a document `<key>:<n>` inserted with that `_id`:
 * an insert of an `_id` is atomic on MongoDB and on FerretDB alike, so parallel guesses are all
 * counted. (An `$inc` is not atomic on FerretDB 1.x, which reads and writes a document in separate
 * steps: ten parallel `$inc` counted nine there.) A `<key>` document remembers the last slot, as a
 * hint only: reads go forward from it until a slot is missing. Everything is read by `_id`.
 */
export type AttemptKind = 'account' | 'address';

interface SlotDocument {
  _id: string;
  kind: AttemptKind;
  at: Date;
  lockedUntil: Date | null;
  /** When the record may go: quiet long enough and no longer locked (see lockout.ts). */
  forgetAt: Date;
}

interface HintDocument {
  _id: string;
  kind: AttemptKind;
  last: number;
  forgetAt: Date;
}

type LoginAttemptDocument = SlotDocument | HintDocument;

const attemptKey = (kind: AttemptKind, value: string) => createHash('sha256').update(`${kind}:${value}`).digest('hex');
const slotId = (key: string, n: number) => `${key}:${n}`;

export class LoginAttemptsRepository {
  static readonly collectionName = 'consoleLoginAttempts';
  private readonly collection: Collection<LoginAttemptDocument>;

  constructor(db: Db) {
    this.collection = db.collection<LoginAttemptDocument>(LoginAttemptsRepository.collectionName);
  }

  async ensureIndexes(): Promise<void> {
    // Read and written by _id only.
  }

  /** The key's current state; a forgotten one reads as none. */
  async get(kind: AttemptKind, value: string, now: Date): Promise<AttemptState | null> {
    const { failures, slot } = await this.latest(attemptKey(kind, value));
    if (!slot || slot.forgetAt.getTime() <= now.getTime()) return null;
    return { failures, lastFailureAt: slot.at, lockedUntil: slot.lockedUntil };
  }

  /** Counts one more failure (claiming its slot) with the lock that follows from it. */
  async recordFailure(kind: AttemptKind, value: string, policy: LockoutPolicy, now: Date): Promise<AttemptState> {
    const key = attemptKey(kind, value);
    const latest = await this.latest(key);
    let n = latest.failures;
    const slot = latest.slot;
    if (slot && slot.forgetAt.getTime() <= now.getTime()) {
      await this.removeSlots(key, n);
      n = 0;
    }
    for (;;) {
      n += 1;
      const state: AttemptState = { failures: n, lastFailureAt: now, lockedUntil: lockAfterFailure(policy, n, now) };
      const forget = forgetAt(policy, state);
      try {
        await this.collection.insertOne({
          _id: slotId(key, n),
          kind,
          at: now,
          lockedUntil: state.lockedUntil,
          forgetAt: forget,
        });
      } catch (err) {
        // Another attempt claimed this slot at the same moment: take the next one.
        if (err instanceof MongoServerError && err.code === 11000) continue;
        throw err;
      }
      try {
        await this.collection.updateOne({ _id: key }, { $set: { kind, last: n, forgetAt: forget } }, { upsert: true });
      } catch (err) {
        // Parallel first failures of a key both insert its hint (FerretDB's upsert is not atomic):
        // the other one's hint is as good, reads go forward from any hint, and this failure is counted.
        if (!isDuplicateKeyOnly(err)) throw err;
      }
      return state;
    }
  }

  async clear(kind: AttemptKind, value: string): Promise<void> {
    const key = attemptKey(kind, value);
    const { failures } = await this.latest(key);
    await this.removeSlots(key, failures);
  }

  async removeForgotten(now: Date): Promise<number> {
    return (await this.collection.deleteMany({ forgetAt: { $lte: now } })).deletedCount;
  }

  private async latest(key: string): Promise<{ failures: number; slot: SlotDocument | null }> {
    const hint = (await this.collection.findOne({ _id: key })) as HintDocument | null;
    let n = hint?.last ?? 0;
    let slot = n > 0 ? ((await this.collection.findOne({ _id: slotId(key, n) })) as SlotDocument | null) : null;
    if (!slot) n = 0;
    for (;;) {
      const next = (await this.collection.findOne({ _id: slotId(key, n + 1) })) as SlotDocument | null;
      if (!next) return { failures: n, slot };
      n += 1;
      slot = next;
    }
  }

  private async removeSlots(key: string, upTo: number): Promise<void> {
    const ids = [key, ...Array.from({ length: upTo }, (_, i) => slotId(key, i + 1))];
    await this.collection.deleteMany({ _id: { $in: ids } });
  }
}
