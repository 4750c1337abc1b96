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
 * on every read (an expired one is deleted and reads as none), and `removeExpired` sweeps the rest.
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

  set(sessionId: string, session: object, callback: Callback): void {
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

  /** Every save (each request: sessions roll) pushes the idle expiry; the absolute one is set once. */
  async save(sessionId: string, session: object): Promise<void> {
    const now = this.now();
    await this.collection.updateOne(
      { _id: storeKey(sessionId) },
      {
        $set: {
          data: JSON.stringify(session),
          updatedAt: now,
          idleExpiresAt: new Date(now.getTime() + this.lifetime.idleMs),
        },
        $setOnInsert: { createdAt: now, absoluteExpiresAt: new Date(now.getTime() + this.lifetime.absoluteMs) },
      },
      { upsert: true },
    );
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
    return JSON.parse(doc.data) as Session;
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
