import { setTimeout as sleep } from 'node:timers/promises';
import type { Collection, Filter, OptionalUnlessRequiredId } from 'mongodb';
import { isDuplicateKeyOnly } from './errors';

/** What every lock document holds: its name, who holds it, since when. */
export interface LockDocument {
  _id: string;
  /** The holding process and attempt: only it gives the lock back. */
  holder: string;
  at: Date;
}

export interface ExpiringLockOptions<D extends LockDocument> {
  /** A lock older than this belongs to a holder that crashed or hangs: the next taker breaks it. */
  lapseMs: number;
  /** The longest a taker waits for another holder, then gives up (its caller says why). */
  waitMs: number;
  /** How long to pause before looking again, after `attempt` looks (from 0). */
  pauseMs: (attempt: number) => number;
  /** The clock the lock's times are read and written with (ms). */
  now?: () => number;
  /** Told once, when another holds the lock and this taker starts waiting for it. */
  onWait?: (held: D) => void;
}

export type ExpiringLock<D extends LockDocument> =
  | { held: true; release: () => Promise<void> }
  /** Given up after `waitMs`: the lock as last seen (null when it was free but taken again each time). */
  | { held: false; heldBy: D | null };

/**
 * A lock that lapses, shared by the audit log's per-company writer lock and the tenant claim: one
 * document per locked thing, `_id` its name, taken by inserting it (an insert of an `_id` is
 * atomic on MongoDB and FerretDB alike, where a conditional update is not), given back by deleting
 * it as its holder. A holder that crashed leaves a document that lapses: older than `lapseMs`, the
 * next taker removes it naming the holder it saw, so a fresh lock is not taken for it — except on
 * FerretDB, whose delete is a read then a delete by `_id`, in the moment between the two.
 */
export async function takeExpiringLock<D extends LockDocument>(
  collection: Collection<D>,
  lock: Omit<D, 'at'>,
  opts: ExpiringLockOptions<D>,
): Promise<ExpiringLock<D>> {
  const now = opts.now ?? Date.now;
  const began = now();
  let told = false;
  for (let attempt = 0; ; attempt++) {
    try {
      await collection.insertOne({ ...lock, at: new Date(now()) } as OptionalUnlessRequiredId<D>);
      const mine = { _id: lock._id, holder: lock.holder } as Filter<D>;
      return { held: true, release: async () => void (await collection.deleteOne(mine)) };
    } catch (err) {
      if (!isDuplicateKeyOnly(err)) throw err;
    }
    const held = (await collection.findOne({ _id: lock._id } as Filter<D>)) as D | null;
    if (held && now() - held.at.getTime() > opts.lapseMs) {
      // A holder field missing (a lock written before it was named so) matches null.
      await collection.deleteOne({ _id: lock._id, holder: held.holder ?? null } as Filter<D>);
      continue;
    }
    if (held && !told) {
      told = true;
      opts.onWait?.(held);
    }
    if (now() - began > opts.waitMs) return { held: false, heldBy: held };
    await sleep(opts.pauseMs(attempt));
  }
}
