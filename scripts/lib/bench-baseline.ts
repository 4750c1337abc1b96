import type { Db } from 'mongodb';
import { ObjectId } from 'mongodb';
import { ProfilesRepository, type ProfileDocument } from '../../db/profiles-repository';
import { mapLuccaUser } from '../../domain/map-lucca-user';
import { companyToday, statusFor } from '../../domain/status';
import { LuccaClient, LUCCA_PAGE_SIZE } from '../../lucca/client';

/**
 * The benchmark's floor: a plain script, no Temporal, no staging, no plan — read the same Lucca
 * pages with the same client and mapper, and bulk-insert the same profiles into the same kind of
 * database, page by page. Inserts, not upserts: on an empty collection they write the same
 * documents, and on FerretDB an upsert costs a collection scan each, so inserts are the floor.
 */
export async function runBaseline(opts: {
  db: Db;
  baseUrl: string;
  apiKey: string;
  companyId: string;
  timezone: string;
}): Promise<{ profiles: number; pages: number }> {
  const profiles = new ProfilesRepository(opts.db);
  await profiles.ensureIndexes();
  const client = new LuccaClient({ baseUrl: opts.baseUrl, apiKey: opts.apiKey, limiter: null });
  const now = new Date();
  const today = companyToday(opts.timezone, now);
  let written = 0;
  let pages = 0;
  for (let offset = 0; ;) {
    const page = await client.fetchUsersPage(offset, LUCCA_PAGE_SIZE);
    pages++;
    const docs: ProfileDocument[] = [];
    for (const raw of page.items) {
      const user = mapLuccaUser(raw);
      if (user.kind !== 'ok') continue;
      const status = statusFor(user.fields, today);
      if (status === 'former') continue;
      docs.push({
        _id: new ObjectId(),
        companyId: opts.companyId,
        ...user.fields,
        status,
        lucca: { userId: user.luccaUserId, linkedAt: now, lastSeenAt: now, syncedValues: user.fields },
        createdAt: now,
        updatedAt: now,
      });
    }
    if (docs.length) written += (await profiles.collection.insertMany(docs, { ordered: false })).insertedCount;
    offset += page.items.length;
    if (page.isLast) break;
  }
  return { profiles: written, pages };
}
