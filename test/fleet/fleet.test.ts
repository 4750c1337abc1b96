import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fleetChaos } from '../../dev-tools/reliability/fleet';
import { Rig } from '../../dev-tools/reliability/rig';

/**
 * Fleet chaos, small (10 companies of 200 employees, five per Lucca tenant on disjoint legal
 * entities, pages of 50, Lucca's limit and the workers' budget at 5 requests per 5 s per tenant):
 * the fleet syncs at once on two workers while a worker is SIGKILLed, the Temporal server and
 * FerretDB are killed and restarted, the store is cut off for 10 s and both workers are deployed
 * one after the other (the runs on production's heartbeat timeout), each fault asserted to strike with
 * runs in flight; then two passes on fresh workers, whose workflow caches and memory must come
 * back. `npm run chaos -- --fleet` runs it at 50 × 2,000 (see docs/reliability.md).
 */
describe('a fleet of companies syncing at once through faults', () => {
  let rig: Rig;

  before(async () => {
    rig = await Rig.open({ pageSize: 50 });
  });

  after(async () => {
    await rig?.close();
  });

  test('every company ends as its clean run did: none left running, none crossed or duplicated, no 429 past the budget, memory back', async () => {
    const report = await fleetChaos(rig, {
      companies: 10,
      employees: 200,
      perTenant: 5,
      rateLimit: { limit: 5, windowMs: 5_000 },
      pageDelayMs: 50,
      downMs: 2_000,
      cutMs: 10_000,
      shutdownGraceMs: 3_000,
      waitMs: 600_000,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    assert.equal(report.landed.length, 5, `five faults struck the fleet in flight (${report.landed.join('; ')})`);
    assert.ok(
      report.pressed.every((p) => p.requests > 5),
      `every tenant sent more than its limit, so the budget had to hold requests back (${JSON.stringify(report.pressed)})`,
    );
    process.stderr.write(`${JSON.stringify(report)}\n`);
  });
});
