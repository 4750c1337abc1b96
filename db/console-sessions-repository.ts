import { createHash } from 'node:crypto';
import type { Session } from 'fastify';
import type { Collection, Db } from 'mongodb';

/**
 * The console's sessions, shared by every console replica and kept across restarts. It implements
 * @fastify/session's documented store interface (set / get / destroy with callbacks) rather than an
 * express store such as connect-mongo, whose lookups filter on `_id` plus an expiry (never pushed
 * down by FerretDB on SQLite) and which relies on a TTL index (refused by FerretDB 1.x).
 *
 * A session ends when it has been idle for `idleMs` or has lasted `absoluteMs` since login: checked
 * on every read (an expired one is deleted and reads as none) and on every save (see `save`), and
 * `removeExpired` sweeps the rest.
 * `_id` is a SHA-256 of the session id, so a copy of the collection holds no usable session.
 */
export interface SessionLifetime {
  idleMs: number;
  absoluteMs: number;
}

export interface ConsoleSessionDocument {
  _id: string;
  /** The session as @fastify/session hands it over (cookie settings, user, role, CSRF secret), as JSON. */
  data: string;
  createdAt: Date;
  updatedAt: Date;
  idleExpiresAt: Date;
  absoluteExpiresAt: Date;
}

type Callback = (err?: unknown) => void;

/** What the store reads of a session it is handed: who is logged in, and the end it carries once stored. */
export interface StoredSessionFields {
  user?: string;
  /** ISO date-time: set by the store when it creates the session, restored by every load. */
  absoluteExpiresAt?: string;
}

const storeKey = (sessionId: string) => createHash('sha256').update(sessionId).digest('hex');

export function isSessionExpired(doc: Pick<ConsoleSessionDocument, 'idleExpiresAt' | 'absoluteExpiresAt'>, now: Date) {
  return doc.idleExpiresAt.getTime() <= now.getTime() || doc.absoluteExpiresAt.getTime() <= now.getTime();
}

export class ConsoleSessionsRepository {
  static readonly collectionName = 'consoleSessions';
  private readonly collection: Collection<ConsoleSessionDocument>;

  constructor(
    db: Db,
    private readonly lifetime: SessionLifetime,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.collection = db.collection<ConsoleSessionDocument>(ConsoleSessionsRepository.collectionName);
  }

  async ensureIndexes(): Promise<void> {
    // Read and written by _id only; the sweep scans, which is what FerretDB does for any other filter.
  }

  set(sessionId: string, session: StoredSessionFields, callback: Callback): void {
    this.save(sessionId, session).then(() => callback(), callback);
  }

  get(sessionId: string, callback: (err: unknown, session?: Session | null) => void): void {
    this.load(sessionId).then(
      (session) => callback(null, session),
      (err: unknown) => callback(err),
    );
  }

  destroy(sessionId: string, callback: Callback): void {
    this.collection.deleteOne({ _id: storeKey(sessionId) }).then(() => callback(), callback);
  }

  /**
   * Stores a session. A session is created once, when it first holds a login (a session without
   * a `user` is never stored: an anonymous visit writes nothing), with its absolute end, which it
   * then carries (`absoluteExpiresAt`, restored by `load`). Every later save (each request:
   * sessions roll) only updates the document if it is still there and pushes the idle expiry,
   * never past the absolute end: no upsert, so a request that was in flight when the session was
   * deleted (logout, expiry, a disabled account) cannot bring it back, and no save moves the end.
   */
  async save(sessionId: string, session: StoredSessionFields): Promise<void> {
    const now = this.now();
    const _id = storeKey(sessionId);
    const { absoluteExpiresAt, ...rest } = session;
    if (absoluteExpiresAt === undefined) {
      if (!rest.user) return;
      const end = new Date(now.getTime() + this.lifetime.absoluteMs);
      await this.collection.insertOne({
        _id,
        data: JSON.stringify(rest),
        createdAt: now,
        updatedAt: now,
        idleExpiresAt: this.idleExpiry(now, end),
        absoluteExpiresAt: end,
      });
      // The same request may save it again (login regenerates, then sets the user): that is an update.
      session.absoluteExpiresAt = end.toISOString();
      return;
    }
    const end = new Date(absoluteExpiresAt);
    if (!(end.getTime() > now.getTime())) {
      await this.collection.deleteOne({ _id });
      return;
    }
    await this.collection.updateOne(
      { _id },
      { $set: { data: JSON.stringify(rest), updatedAt: now, idleExpiresAt: this.idleExpiry(now, end) } },
    );
  }

  private idleExpiry(now: Date, end: Date): Date {
    return new Date(Math.min(now.getTime() + this.lifetime.idleMs, end.getTime()));
  }

  /** The session as saved (plain JSON: @fastify/session restores its cookie from it), or null. */
  async load(sessionId: string): Promise<Session | null> {
    const _id = storeKey(sessionId);
    const doc = await this.collection.findOne({ _id });
    if (!doc) return null;
    if (isSessionExpired(doc, this.now())) {
      await this.collection.deleteOne({ _id });
      return null;
    }
    // The stored end, not anything the data says: no save can move it.
    return { ...(JSON.parse(doc.data) as Session), absoluteExpiresAt: doc.absoluteExpiresAt.toISOString() };
  }

  /** Deletes the sessions past either expiry; returns how many. */
  async removeExpired(): Promise<number> {
    const now = this.now();
    const result = await this.collection.deleteMany({
      $or: [{ idleExpiresAt: { $lte: now } }, { absoluteExpiresAt: { $lte: now } }],
    });
    return result.deletedCount;
  }
}
