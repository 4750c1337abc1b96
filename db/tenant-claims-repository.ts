import type { Collection, Db } from 'mongodb';
import { isDuplicateKeyOnly } from './errors';

/**
 * `tenantClaims`: who is placing a company on a Lucca tenant right now (onboarding it, changing its
 * scope), so that two placements of one tenant check for overlaps one after the other. One document
 * per tenant, `_id` its normalised base URL: claimed by inserting it (the insert of an `_id` is
 * atomic on MongoDB and FerretDB alike, where a conditional update is not), released by removing
 * it. A claim whose holder crashed lapses (see `operations/tenant-claim.ts`): it is removed by the
 * next placement, naming the claim it saw, so a fresh claim is not taken for it — except on
 * FerretDB, whose delete is a read then a delete by `_id`, in the moment between the two.
 * Company ids, process names and times only.
 */
export interface TenantClaim {
  /** The company being placed (an id, no name). */
  companyId: string;
  /** The claiming process and attempt. */
  holder: string;
  at: Date;
}

interface ClaimDocument extends TenantClaim {
  _id: string;
}

export class TenantClaimsRepository {
  static readonly collectionName = 'tenantClaims';
  private readonly collection: Collection<ClaimDocument>;

  constructor(db: Db) {
    this.collection = db.collection<ClaimDocument>(TenantClaimsRepository.collectionName);
  }

  async ensureIndexes(): Promise<void> {
    // Read and written by _id only.
  }

  /** Inserts the tenant's claim; false when another holds it. */
  async claim(tenant: string, claim: TenantClaim): Promise<boolean> {
    try {
      await this.collection.insertOne({ _id: tenant, ...claim });
      return true;
    } catch (err) {
      if (isDuplicateKeyOnly(err)) return false;
      throw err;
    }
  }

  async current(tenant: string): Promise<TenantClaim | null> {
    const doc = await this.collection.findOne({ _id: tenant });
    return doc ? { companyId: doc.companyId, holder: doc.holder, at: doc.at } : null;
  }

  /** Removes the tenant's claim if it is still `holder`'s (a release, or a lapsed claim broken). */
  async release(tenant: string, holder: string): Promise<void> {
    await this.collection.deleteOne({ _id: tenant, holder });
  }
}
