import type { Collection, Db } from 'mongodb';
import { isDuplicateKeyOnly } from './errors';
import { takeExpiringLock, type ExpiringLock, type ExpiringLockOptions } from './expiring-lock';

/**
 * `tenantClaims`: who is placing a company on a Lucca tenant right now (onboarding it, changing its
 * scope), so that two placements of one tenant check for overlaps one after the other. One document
 * per tenant, `_id` its normalised base URL: an expiring lock (`takeExpiringLock`), whose lapse and
 * wait `operations/tenant-claim.ts` sets. Company ids, process names and times only.
 */
export interface TenantClaim {
  /** The company being placed (an id, no name). */
  companyId: string;
  /** The claiming process and attempt. */
  holder: string;
  at: Date;
}

export interface TenantClaimDocument extends TenantClaim {
  _id: string;
}

export class TenantClaimsRepository {
  static readonly collectionName = 'tenantClaims';
  private readonly collection: Collection<TenantClaimDocument>;

  constructor(db: Db) {
    this.collection = db.collection<TenantClaimDocument>(TenantClaimsRepository.collectionName);
  }

  async ensureIndexes(): Promise<void> {
    // Read and written by _id only.
  }

  /** Takes the tenant's claim for `claim`, waiting for another holder as `opts` say. */
  hold(
    tenant: string,
    claim: Omit<TenantClaim, 'at'>,
    opts: ExpiringLockOptions<TenantClaimDocument>,
  ): Promise<ExpiringLock<TenantClaimDocument>> {
    return takeExpiringLock(this.collection, { _id: tenant, ...claim }, opts);
  }

  /** Inserts the tenant's claim as it is given; false when another holds it. */
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
