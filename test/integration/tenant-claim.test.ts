import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../config/env';
import type { OperationsDeps } from '../../operations';
import type { OperationError } from '../../operations/errors';
import {
  TENANT_CLAIM_LAPSE_MS,
  TENANT_CLAIM_WAIT_MS,
  tenantClaimWaitMessage,
  withTenantClaim,
  type TenantClaimWait,
} from '../../operations/tenant-claim';
import { openStack, stackEnv, uniqueSuffix, type Stack } from './helpers';

/**
 * A clock running `SPEED` times faster than the real one from the moment it is made: the claim's
 * production lapse (60 s) and wait (75 s) pass in about a second each, while the store, the polls
 * and the code under test are the real ones.
 */
const SPEED = 50;
function fastClock() {
  const start = Date.now();
  return () => new Date(start + (Date.now() - start) * SPEED);
}
/** How far the fast clock may move between two looks of a waiting placement (its 100 ms poll, and a loaded machine). */
const STEP_MS = 1_000 * SPEED;

/**
 * The tenant claim at its production values, on the real store: a placement waits for another's
 * claim at most `TENANT_CLAIM_WAIT_MS`, breaks a claim older than `TENANT_CLAIM_LAPSE_MS`, and
 * says what it waits for. Claims are written straight into the store with the times they need.
 */
describe("the tenant claim's lapse and wait, at their production values (real store, a fast clock)", () => {
  let stack: Stack;
  let deps: OperationsDeps;

  before(async () => {
    stack = await openStack('tenant-claim');
    deps = { repos: stack.repos, client: stack.client, config: loadConfig(stackEnv(stack)) };
  });

  after(async () => {
    await stack?.close();
  });

  const newTenant = () => `https://t-${uniqueSuffix()}.ilucca.net`;

  test('a claim is respected until it is 60 s old, then broken; one ten times older is broken at once', async () => {
    assert.equal(TENANT_CLAIM_LAPSE_MS, 60_000);
    const now = fastClock();
    const tenant = newTenant();
    const claimedAt = now();
    assert.ok(
      await stack.repos.tenantClaims.claim(tenant, { companyId: 'co-held', holder: 'a hung process', at: claimedAt }),
    );
    const waits: TenantClaimWait[] = [];
    const placedAt = await withTenantClaim(
      { ...deps, now },
      { baseUrl: tenant, companyId: 'co-next', onWait: (w) => waits.push(w) },
      async () => {
        assert.equal(
          (await stack.repos.tenantClaims.current(tenant))?.companyId,
          'co-next',
          'placed under its own claim',
        );
        return now().getTime();
      },
    );
    const age = placedAt - claimedAt.getTime();
    assert.ok(age > TENANT_CLAIM_LAPSE_MS, `placed when the claim was ${age} ms old, not before its lapse`);
    assert.ok(age < TENANT_CLAIM_LAPSE_MS + STEP_MS, `placed when the claim was ${age} ms old, soon after its lapse`);
    assert.deepEqual(
      waits,
      [{ companyId: 'co-held', waitMs: TENANT_CLAIM_WAIT_MS }],
      'it said what it waited for, once',
    );
    assert.equal(await stack.repos.tenantClaims.current(tenant), null, 'released');

    const dead = {
      companyId: 'co-dead',
      holder: 'a crashed process',
      at: new Date(now().getTime() - 10 * TENANT_CLAIM_LAPSE_MS),
    };
    assert.ok(await stack.repos.tenantClaims.claim(tenant, dead));
    const began = now().getTime();
    const quiet: TenantClaimWait[] = [];
    const at = await withTenantClaim(
      { ...deps, now },
      { baseUrl: tenant, companyId: 'co-after', onWait: (w) => quiet.push(w) },
      async () => now().getTime(),
    );
    assert.ok(at - began < STEP_MS, `a claim ten times past its lapse held the next one ${at - began} ms`);
    assert.deepEqual(quiet, [], 'no wait to speak of');
  });

  test('a tenant kept busy ten times longer than the wait: refused after 75 s, naming the company, nothing placed', async () => {
    assert.equal(TENANT_CLAIM_WAIT_MS, 75_000);
    const now = fastClock();
    const tenant = newTenant();
    const claims = stack.db.collection<{ _id: string; companyId: string; holder: string; at: Date }>('tenantClaims');
    // One placement after another keeps the claim young (never lapsed) for 750 s of the clock.
    await claims.insertOne({ _id: tenant, companyId: 'co-busy', holder: 'placements', at: now() });
    const busyUntil = now().getTime() + 10 * TENANT_CLAIM_WAIT_MS;
    const keepBusy = setInterval(() => {
      if (now().getTime() < busyUntil) void claims.updateOne({ _id: tenant }, { $set: { at: now() } });
    }, 100);
    const waits: TenantClaimWait[] = [];
    let placed = false;
    const began = now().getTime();
    try {
      await assert.rejects(
        withTenantClaim(
          { ...deps, now },
          { baseUrl: tenant, companyId: 'co-waiting', onWait: (w) => waits.push(w) },
          async () => {
            placed = true;
          },
        ),
        (err: OperationError) => {
          assert.equal(err.code, 'tenant-busy');
          assert.match(err.message, /\(company co-busy, since [0-9T:.-]+Z\) was still checking and saving after 75 s/);
          assert.match(err.message, /Nothing was changed/);
          return true;
        },
      );
    } finally {
      clearInterval(keepBusy);
    }
    const waited = now().getTime() - began;
    assert.ok(waited > TENANT_CLAIM_WAIT_MS, `refused after ${waited} ms, not before the wait's end`);
    assert.ok(waited < TENANT_CLAIM_WAIT_MS + STEP_MS, `refused after ${waited} ms, at the wait's end`);
    assert.equal(placed, false);
    assert.equal((await stack.repos.tenantClaims.current(tenant))?.companyId, 'co-busy', 'the holder keeps its claim');
    assert.deepEqual(waits, [{ companyId: 'co-busy', waitMs: TENANT_CLAIM_WAIT_MS }]);
    assert.equal(
      tenantClaimWaitMessage(waits[0]!),
      'Waiting for another onboarding or scope change of the same Lucca tenant (company co-busy), at most 75 s…',
    );
  });
});
