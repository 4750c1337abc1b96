import type { Collection, Db } from 'mongodb';
import { isDuplicateKeyOnly } from './errors';
import type { BudgetLead, BudgetSlot, LuccaBudgetStore } from '../domain/lucca-budget';

/**
 * `luccaBudgets`: each Lucca tenant's request slots, shared by every worker and command (see
 * lucca/shared-budget.ts). Three kinds of documents, all read and written by `_id` (the one filter
 * FerretDB 1.x evaluates in SQL):
 * - `<tenant>#<n>`: slot n, inserted once by the process that claimed it (the insert of an `_id` is
 *   atomic on MongoDB and FerretDB alike; FerretDB runs a conditional update as a read, then a
 *   write of the whole document, so two processes could both win one), then given its send time by
 *   that process alone. The claimer of slot n removes slot n − 2×limit.
 * - `<tenant>`: the last slot claimed, a hint only (readers go forward from it to the first free
 *   number), so its lost updates cost a read, never a slot. `$max` keeps it from going back by
 *   more than the claims of one write's read-then-write on FerretDB, far fewer than the 2×limit
 *   slots kept behind the newest.
 * - `<tenant>#hold`: until when Lucca's last 429 holds the tenant; a document of its own, so a hint
 *   written at the same moment (FerretDB writes whole documents) cannot erase it.
 * - `<tenant>#lead`: the sync read that goes first and until when. Inserted when there is none;
 *   taken over only while it still names the expired lead (on FerretDB that condition is a read
 *   then a write, so two could both take it: the reads then share the budget as if none led).
 * The tenant is its normalised base URL: no key, no personal data.
 */
interface SlotDocument {
  _id: string;
  tenant: string;
  n: number;
  at: Date;
  sentAt: Date | null;
  /** The claiming process (host and pid), to tell who held a slot. */
  holder: string;
}

interface HintDocument {
  _id: string;
  tenant: string;
  last: number;
}

interface HoldDocument {
  _id: string;
  tenant: string;
  until: Date;
}

interface LeadDocument {
  _id: string;
  tenant: string;
  holder: string;
  until: Date;
}

type BudgetDocument = SlotDocument | HintDocument | HoldDocument | LeadDocument;

const slotId = (tenant: string, n: number) => `${tenant}#${n}`;
const holdId = (tenant: string) => `${tenant}#hold`;
const leadId = (tenant: string) => `${tenant}#lead`;

export class LuccaBudgetsRepository implements LuccaBudgetStore {
  static readonly collectionName = 'luccaBudgets';
  private readonly collection: Collection<BudgetDocument>;

  constructor(db: Db) {
    this.collection = db.collection<BudgetDocument>(LuccaBudgetsRepository.collectionName);
  }

  async ensureIndexes(): Promise<void> {
    // Read and written by _id only.
  }

  async head(tenant: string): Promise<{ last: number; heldUntil: number }> {
    const [hint, hold] = await Promise.all([
      this.collection.findOne({ _id: tenant }) as Promise<HintDocument | null>,
      this.collection.findOne({ _id: holdId(tenant) }) as Promise<HoldDocument | null>,
    ]);
    return { last: hint?.last ?? 0, heldUntil: hold?.until.getTime() ?? 0 };
  }

  async slot(tenant: string, n: number): Promise<BudgetSlot | null> {
    const doc = (await this.collection.findOne({ _id: slotId(tenant, n) })) as SlotDocument | null;
    return doc && { n: doc.n, at: doc.at.getTime(), sentAt: doc.sentAt?.getTime() ?? null };
  }

  async claim(tenant: string, slot: { n: number; at: number }, holder: string): Promise<boolean> {
    try {
      await this.collection.insertOne({
        _id: slotId(tenant, slot.n),
        tenant,
        n: slot.n,
        at: new Date(slot.at),
        sentAt: null,
        holder,
      });
      return true;
    } catch (err) {
      if (isDuplicateKeyOnly(err)) return false;
      throw err;
    }
  }

  async advance(tenant: string, n: number, forget: number): Promise<void> {
    await Promise.all([
      this.collection
        .updateOne({ _id: tenant }, { $max: { last: n }, $set: { tenant } }, { upsert: true })
        // Parallel first claims both insert the hint (FerretDB's upsert reads, then inserts): any hint is good.
        .catch((err: unknown) => {
          if (!isDuplicateKeyOnly(err)) throw err;
        }),
      forget > 0 ? this.collection.deleteOne({ _id: slotId(tenant, forget) }) : undefined,
    ]);
  }

  async markSent(tenant: string, n: number, sentAt: number): Promise<void> {
    await this.collection.updateOne({ _id: slotId(tenant, n) }, { $set: { sentAt: new Date(sentAt) } });
  }

  async hold(tenant: string, until: number): Promise<void> {
    await this.collection
      .updateOne({ _id: holdId(tenant) }, { $max: { until: new Date(until) }, $set: { tenant } }, { upsert: true })
      .catch((err: unknown) => {
        if (!isDuplicateKeyOnly(err)) throw err;
      });
  }

  async lead(tenant: string): Promise<BudgetLead | null> {
    const doc = (await this.collection.findOne({ _id: leadId(tenant) })) as LeadDocument | null;
    return doc && { holder: doc.holder, until: doc.until.getTime() };
  }

  async takeLead(tenant: string, holder: string, until: number, seen: BudgetLead | null): Promise<boolean> {
    const _id = leadId(tenant);
    if (seen?.holder === holder) {
      await this.collection.updateOne({ _id }, { $max: { until: new Date(until) } });
      return true;
    }
    const lead: LeadDocument = { _id, tenant, holder, until: new Date(until) };
    if (seen) {
      const res = await this.collection.replaceOne({ _id, holder: seen.holder, until: new Date(seen.until) }, lead);
      return res.modifiedCount === 1;
    }
    try {
      await this.collection.insertOne(lead);
      return true;
    } catch (err) {
      if (isDuplicateKeyOnly(err)) return false;
      throw err;
    }
  }
}
