import { ObjectId, type Db } from 'mongodb';
import { ProfilesRepository, type PlannedInsert, type ProfileDocument } from '../../db/profiles-repository';
import { SyncChangesRepository, toChangeDocument } from '../../db/sync-changes-repository';
import { mapLuccaUser } from '../../domain/map-lucca-user';
import { CompanyPlanner } from '../../domain/plan-company';
import { companyToday } from '../../domain/status';
import { LuccaClient } from '../../lucca/client';

/**
 * The benchmark's floor: the same job as a first sync, as a plain script — no Temporal, no
 * staging, no stored plan, no guard before writing. It reads the same Lucca pages with the same
 * client, maps and matches them with the same domain code against the company's profiles (read
 * once), and writes each page's new profiles and one change record per change as it goes.
 * Only creates are written: it is measured on a first sync into an empty database.
 */
export async function runBaseline(opts: {
  db: Db;
  baseUrl: string;
  apiKey: string;
  companyId: string;
  timezone: string;
}): Promise<{ profiles: number; pages: number }> {
  const profiles = new ProfilesRepository(opts.db);
  const changes = new SyncChangesRepository(opts.db);
  await profiles.ensureIndexes();
  await changes.ensureIndexes();
  const client = new LuccaClient({ baseUrl: opts.baseUrl, apiKey: opts.apiKey, limiter: null });
  const now = new Date();
  const runId = `baseline-${now.getTime()}`;
  const planner = new CompanyPlanner({
    today: companyToday(opts.timezone, now),
    index: await profiles.loadCompanyIndex(opts.companyId, client.baseUrl),
    newProfileId: () => new ObjectId().toHexString(),
  });
  let written = 0;
  let pages = 0;
  let seq = 0;
  for await (const read of client.usersPages()) {
    pages++;
    // A plain script writes as it plans: a page found stale (an email shared with a later page) is not planned again.
    const planned = planner.planPage(read.page, read.items.map(mapLuccaUser));
    const docs: PlannedInsert[] = [];
    for (const change of planned) {
      if (change.action !== 'create' || !change.target || change.luccaUserId === null) continue;
      const { fields, status } = change.target;
      const doc: ProfileDocument = {
        _id: new ObjectId(change.profileId),
        companyId: opts.companyId,
        ...fields,
        status,
        lucca: { userId: change.luccaUserId, linkedAt: now, lastSeenAt: now, syncedValues: fields },
        createdAt: now,
        updatedAt: now,
      };
      docs.push({ doc, change: { ...change, profileId: doc._id.toHexString() } });
    }
    if (docs.length) written += (await profiles.insertPlanned(opts.companyId, docs)).written;
    await changes.insertMany(planned.map((c) => toChangeDocument(runId, opts.companyId, ++seq, c)));
  }
  return { profiles: written, pages };
}
