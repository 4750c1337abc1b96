import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../config/env';
import { connectMongo, repositories, type Repositories } from '../../db/mongo';
import { LuccaClient } from '../../lucca/client';
import { LuccaRateLimitedError } from '../../lucca/errors';
import {
  LEAD_GRACE_MS,
  READ_LEAD_DEFER_MS,
  SharedLuccaBudget,
  type LeadWait,
  type SharedBudgetOptions,
} from '../../lucca/shared-budget';
import { sharedLuccaBudget } from '../../operations/lucca-budget';
import { checkLuccaAccess } from '../../operations/onboard';
import { OperationError } from '../../operations/errors';
import { countCommands } from '../../dev-tools/bench/command-counter';
import {
  addCompany,
  FAKE_LUCCA_HOSTS,
  MONGODB_URI,
  newApiKey,
  openStack,
  TEMPORAL_ADDRESS,
  uniqueSuffix,
  type Stack,
} from './helpers';
import { runSync, staff, startWorker, until, type RunningWorker } from './sync-kit';

/** The fake tenants' limit in these tests: Lucca's rule (a rolling window per tenant), shorter. */
const LIMIT = { limit: 5, windowMs: 2_000 };
/** What the clients are told: the same limit, and the margin the workers use. */
const BUDGET: SharedBudgetOptions = { ...LIMIT, marginMs: 250 };

/**
 * One tenant's Lucca budget shared through the store by clients that share nothing else: each
 * "process" here has its own MongoDB connection, repositories and budget object, as separate
 * workers and CLI commands have. The fake Lucca enforces the limit per tenant and answers 429
 * past it; its request log says when each request arrived.
 */
describe('one Lucca rate limit per tenant, shared by every process through the store', () => {
  let stack: Stack;
  const processes: { close(): Promise<void> }[] = [];

  before(async () => {
    stack = await openStack('lucca-budget');
  });

  after(async () => {
    for (const p of processes) await p.close();
    await stack?.close();
  });

  /** A process of its own: its own MongoDB client and repositories on the test's database. */
  async function otherProcess(monitorCommands = false): Promise<{ repos: Repositories; mongo: Stack['mongo'] }> {
    const { client, db } = await connectMongo(MONGODB_URI, stack.db.databaseName, { monitorCommands });
    processes.push(client);
    return { repos: repositories(db), mongo: client };
  }

  function newTenant(rateLimit: typeof LIMIT | false = LIMIT): { tenant: string; apiKey: string; url: string } {
    const tenant = `t-${uniqueSuffix()}`;
    const apiKey = newApiKey();
    stack.lucca.addTenant(tenant, { users: staff(3), apiKeys: [{ key: apiKey }], rateLimit });
    return { tenant, apiKey, url: stack.lucca.tenantUrl(tenant) };
  }

  const tooMany = (tenant: string) => stack.lucca.requests(tenant).filter((r) => r.status === 429);

  test('five processes sending ten times the limit at once to one tenant draw no 429, and another tenant does not wait for it', async () => {
    const { tenant, apiKey, url } = newTenant();
    const neighbour = newTenant();
    const clients = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const { repos } = await otherProcess();
        // A 429 is not waited out: the test sees it as a failure of that request, not as a delay.
        return new LuccaClient({
          baseUrl: url,
          apiKey,
          limiter: new SharedLuccaBudget(repos.luccaBudgets, url, BUDGET),
          maxRateLimitWaits: 0,
        });
      }),
    );
    const perClient = 2 * LIMIT.limit;
    // Settled as they end, so that a request refused early is reported below with the others.
    const settled = Promise.allSettled(
      clients.map(async (client) => {
        for (let i = 0; i < perClient; i++) await client.checkAccess();
      }),
    );
    // Once the tenant's first window is spent, a request to another tenant goes at once.
    const { repos } = await otherProcess();
    const other = new LuccaClient({
      baseUrl: neighbour.url,
      apiKey: neighbour.apiKey,
      limiter: new SharedLuccaBudget(repos.luccaBudgets, neighbour.url, BUDGET),
    });
    await until('the first window spent', async () =>
      stack.lucca.requests(tenant).length >= LIMIT.limit ? true : undefined,
    );
    await other.checkAccess();
    const results = await settled;

    const log = stack.lucca.requests(tenant);
    assert.deepEqual(
      tooMany(tenant).map((r) => r.at),
      [],
      `no request of the ${log.length} to one tenant should draw a 429`,
    );
    assert.deepEqual(
      results.filter((r) => r.status === 'rejected'),
      [],
    );
    assert.equal(log.length, 5 * perClient);
    // Where Lucca counts: at most `limit` arrivals in any window (what the fake enforces).
    const arrivals = log.map((r) => r.at).sort((a, b) => a - b);
    for (let i = LIMIT.limit; i < arrivals.length; i++) {
      assert.ok(arrivals[i]! - arrivals[i - LIMIT.limit]! >= LIMIT.windowMs, `request ${i + 1} within the window`);
    }
    const neighbourAt = stack.lucca.requests(neighbour.tenant)[0]!.at;
    assert.ok(
      neighbourAt < arrivals[LIMIT.limit]!,
      'the other tenant did not wait for the first tenant to have room again',
    );
  });

  test('a 429 one process draws holds every other process of the tenant until its Retry-After', async () => {
    const { tenant, apiKey, url } = newTenant(false);
    const [first, second] = await Promise.all([otherProcess(), otherProcess()]);
    const client = (repos: Repositories) =>
      new LuccaClient({ baseUrl: url, apiKey, limiter: new SharedLuccaBudget(repos.luccaBudgets, url, BUDGET) });
    // Another integration of the company spent the budget: Lucca answers 429, come back in 2 s.
    stack.lucca.addFault({ tenant, kind: 'status', status: 429, retryAfter: '2', times: 1 });
    const refused = client(first.repos).checkAccess();
    const refusal = await until('the 429', async () => tooMany(tenant)[0]);
    // Let the refused client tell the store, then ask from another process.
    await until(
      'the refused process to record the hold in the store',
      async () => ((await first.repos.luccaBudgets.head(url)).heldUntil > 0 ? true : undefined),
      10_000,
    );
    await client(second.repos).checkAccess();
    await refused;

    const [, ...after429] = stack.lucca.requests(tenant);
    assert.equal(after429.length, 2, 'the refused request again, and the other process’s');
    for (const request of after429) {
      assert.ok(
        request.at >= refusal.at + 2_000,
        `a request came ${request.at - refusal.at} ms after the 429, before its Retry-After of 2 s`,
      );
    }
  });

  test('a request delayed on its way to Lucca past the margin does not let the next window go early', async () => {
    const { tenant, apiKey, url } = newTenant();
    // Between the budget and Lucca, a second's delay: a busy event loop, a slow network, a busy Lucca.
    const delayMs = 1_000;
    const proxy = createServer((req, res) => {
      void (async () => {
        await sleep(delayMs);
        const answer = await fetch(`${new URL(url).origin}${req.url}`, {
          headers: { authorization: req.headers.authorization ?? '' },
        });
        res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
        res.end(await answer.text());
      })();
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    processes.push({ close: () => new Promise<void>((resolve) => proxy.close(() => resolve())) });
    const slowUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}${new URL(url).pathname}`;
    const clientOf = async (baseUrl: string) => {
      const { repos } = await otherProcess();
      // The budget is the tenant's, whichever way the request goes.
      return new LuccaClient({
        baseUrl,
        apiKey,
        limiter: new SharedLuccaBudget(repos.luccaBudgets, url, BUDGET),
        maxRateLimitWaits: 0,
      });
    };
    const slow = await Promise.all(Array.from({ length: LIMIT.limit }, () => clientOf(slowUrl)));
    const direct = await Promise.all(Array.from({ length: LIMIT.limit }, () => clientOf(url)));
    const results = await Promise.allSettled([
      ...slow.map((c) => c.checkAccess()),
      // After the delayed ones took the first window's slots.
      (async () => {
        await until('the first window taken', async () =>
          (await stack.repos.luccaBudgets.head(url)).last >= LIMIT.limit ? true : undefined,
        );
        await Promise.all(direct.map((c) => c.checkAccess()));
      })(),
    ]);
    assert.deepEqual(
      tooMany(tenant).map((r) => r.at),
      [],
      'a request counted from its send would go while the delayed ones still count in the window',
    );
    assert.deepEqual(
      results.filter((r) => r.status === 'rejected'),
      [],
    );
    assert.equal(stack.lucca.requests(tenant).length, 2 * LIMIT.limit);
  });

  test('a holder that crashed with the window reserved, one slot a day ahead by a wrong clock, delays the others by one window at most', async () => {
    const { tenant, apiKey, url } = newTenant();
    const crashed = (await otherProcess()).repos.luccaBudgets;
    const now = Date.now();
    // Reserved, never sent, never to be: the holder died.
    for (let n = 1; n <= LIMIT.limit; n++) assert.ok(await crashed.claim(url, { n, at: now }, 'crashed'));
    assert.ok(await crashed.claim(url, { n: LIMIT.limit + 1, at: now + 86_400_000 }, 'crashed, clock a day ahead'));
    await crashed.advance(url, LIMIT.limit + 1, 0);

    const { repos } = await otherProcess();
    const maxHoldMs = 1_000;
    const client = new LuccaClient({
      baseUrl: url,
      apiKey,
      limiter: new SharedLuccaBudget(repos.luccaBudgets, url, { ...BUDGET, maxHoldMs, maxWaitMs: 10_000 }),
    });
    const started = Date.now();
    await client.checkAccess();
    const waited = Date.now() - started;
    // One window and the longest hold past the crashed reservations, not a day; timers on a loaded machine may be late.
    const bound = LIMIT.windowMs + BUDGET.marginMs! + maxHoldMs;
    assert.ok(waited < bound + 5_000, `waited ${waited} ms (bound ${bound} ms)`);
    assert.equal(tooMany(tenant).length, 0);
    assert.equal(stack.lucca.requests(tenant).length, 1);
  });

  test('a request that would wait past its bound fails at once saying until when the budget is taken, without taking a slot (the CLI key check too)', async () => {
    const { tenant, apiKey, url } = newTenant();
    const busy = (await otherProcess()).repos.luccaBudgets;
    const now = Date.now();
    for (let n = 1; n <= LIMIT.limit; n++) assert.ok(await busy.claim(url, { n, at: now }, 'a sync'));

    const { repos } = await otherProcess();
    const budget = new SharedLuccaBudget(repos.luccaBudgets, url, { ...BUDGET, maxWaitMs: 500 });
    const started = Date.now();
    await assert.rejects(budget.acquire(), (err: unknown) => {
      assert.ok(err instanceof LuccaRateLimitedError);
      assert.match(
        err.message,
        /request budget for .* \(5 requests per 2 s, shared by every sync and command using this tenant\) has no room before \d{4}-\d\d-\d\dT[\d:.]+Z: request slot 6 would wait \d+ s, more than the 1 s allowed\. Nothing was sent/,
      );
      return true;
    });
    assert.ok(Date.now() - started < LIMIT.windowMs, 'refused without waiting for the slot');
    assert.equal(await repos.luccaBudgets.slot(url, LIMIT.limit + 1), null, 'no slot was taken');

    // Onboarding's key check (the CLI's and the console's) takes its request from the same budget.
    const deps = {
      repos,
      client: stack.client,
      config: loadConfig({
        TEMPORAL_ADDRESS,
        MONGODB_URI,
        MONGODB_DB: stack.db.databaseName,
        LUCCA_ALLOWED_HOSTS: FAKE_LUCCA_HOSTS.join(','),
        LUCCA_RATE_LIMIT: '5/2s',
      }),
    };
    await assert.rejects(
      checkLuccaAccess(url, apiKey, {
        timeoutMs: 5_000,
        maxRateLimitWaits: 2,
        limiter: sharedLuccaBudget(deps, url, 500),
      }),
      (err: unknown) => err instanceof OperationError && err.code === 'lucca-rate-limited',
    );
    assert.equal(stack.lucca.requests(tenant).length, 0, 'nothing was sent to Lucca');
    // Given room to wait for the window to pass, the key check goes through.
    const principal = await checkLuccaAccess(url, apiKey, {
      timeoutMs: 5_000,
      maxRateLimitWaits: 0,
      limiter: sharedLuccaBudget(deps, url, 10_000),
    });
    assert.equal(principal, 'Fake Lucca API key');
    assert.ok(stack.lucca.requests(tenant)[0]!.at >= now + LIMIT.windowMs, 'it waited for the window to pass');
    assert.equal(tooMany(tenant).length, 0);
  });

  test('two companies of one tenant syncing at once on two workers, ten times the limit in requests, draw no 429', async () => {
    const tenant = `t-${uniqueSuffix()}`;
    const apiKey = newApiKey();
    stack.lucca.addTenant(tenant, { users: staff(250), apiKeys: [{ key: apiKey }], rateLimit: LIMIT });
    const companies = [`co-${uniqueSuffix()}`, `co-${uniqueSuffix()}`];
    for (const companyId of companies) await addCompany(stack, { companyId, tenant, apiKey });
    const workers: RunningWorker[] = [];
    try {
      for (const companyId of companies) {
        const { repos } = await otherProcess();
        workers.push(
          await startWorker(stack, `${stack.taskQueue}-${companyId}`, {
            repos,
            lucca: { timeoutMs: 5_000, rateLimit: LIMIT, pageSize: 10, allowedHosts: FAKE_LUCCA_HOSTS },
          }),
        );
      }
      const results = await Promise.all(
        companies.map((companyId) => runSync(stack, `${stack.taskQueue}-${companyId}`, companyId)),
      );
      for (const result of results) {
        assert.equal(result.status, 'succeeded');
        assert.equal(result.counts?.created, 250);
      }
    } finally {
      for (const w of workers) await w.stop();
    }
    const log = stack.lucca.requests(tenant);
    assert.ok(log.length >= 10 * LIMIT.limit, `${log.length} requests, ten times the limit`);
    assert.equal(tooMany(tenant).length, 0, `${tooMany(tenant).length} of ${log.length} requests drew a 429`);
  });

  test("a read that lets another company's read of its tenant go first says so in its run's progress, then reads", async () => {
    const tenant = `t-${uniqueSuffix()}`;
    const apiKey = newApiKey();
    stack.lucca.addTenant(tenant, { users: staff(40), apiKeys: [{ key: apiKey }], rateLimit: LIMIT });
    const [leading, waiting] = [`co-${uniqueSuffix()}`, `co-${uniqueSuffix()}`];
    for (const companyId of [leading, waiting]) await addCompany(stack, { companyId, tenant, apiKey });
    const workers: RunningWorker[] = [];
    try {
      for (const companyId of [leading, waiting]) {
        const { repos } = await otherProcess();
        workers.push(
          await startWorker(stack, `${stack.taskQueue}-${companyId}`, {
            repos,
            lucca: { timeoutMs: 5_000, rateLimit: LIMIT, pageSize: 10, allowedHosts: FAKE_LUCCA_HOSTS },
          }),
        );
      }
      const first = runSync(stack, `${stack.taskQueue}-${leading}`, leading);
      await until('the leading read to have sent a request', async () =>
        stack.lucca.requests(tenant).length > 0 ? true : undefined,
      );
      const runId = `run-${uniqueSuffix()}`;
      const second = runSync(stack, `${stack.taskQueue}-${waiting}`, waiting, { runId });
      const shown = await until(
        "the second run's progress to say it waits for the tenant's other read",
        async () => (await stack.repos.syncRuns.get(runId))?.progress.waiting,
      );
      assert.equal(shown.for, 'tenant-read');
      assert.equal((await stack.repos.syncRuns.get(runId))?.progress.pagesRead, 0);
      assert.ok(shown.atMostUntil.getTime() > shown.since.getTime());
      const [a, b] = await Promise.all([first, second]);
      assert.deepEqual([a.status, b.status], ['succeeded', 'succeeded']);
      assert.equal((await stack.repos.syncRuns.get(runId))?.progress.waiting, undefined, 'cleared once it read');
    } finally {
      for (const w of workers) await w.stop();
    }
    assert.equal(tooMany(tenant).length, 0);
  });

  /**
   * Reads of one tenant, each a client of a process of its own sending `requests` requests one
   * after the other (as a read pages), in the order the test starts them; when each request ended.
   */
  async function readsOfOneTenant(leadDeferMs: number, requests: number) {
    const { tenant, apiKey, url } = newTenant();
    const client = async (defer: number) => {
      const { repos } = await otherProcess();
      return new LuccaClient({
        baseUrl: url,
        apiKey,
        limiter: new SharedLuccaBudget(repos.luccaBudgets, url, { ...BUDGET, leadDeferMs: defer }),
        maxRateLimitWaits: 0,
      });
    };
    const [first, second, keyCheck] = [await client(leadDeferMs), await client(leadDeferMs), await client(0)];
    const ended = { first: [] as number[], second: [] as number[], keyCheck: [] as number[] };
    const read = async (c: LuccaClient, into: number[]) => {
      for (let i = 0; i < requests; i++) {
        await c.checkAccess();
        into.push(Date.now());
      }
    };
    const firstRead = read(first, ended.first);
    await until('the first read to have sent a request', async () => (ended.first.length > 0 ? true : undefined));
    const secondStarted = Date.now();
    const secondRead = read(second, ended.second);
    await until('the first window spent', async () =>
      stack.lucca.requests(tenant).length >= LIMIT.limit ? true : undefined,
    );
    await keyCheck.checkAccess();
    ended.keyCheck.push(Date.now());
    await Promise.all([firstRead, secondRead]);
    assert.equal(tooMany(tenant).length, 0, 'no 429');
    assert.equal(stack.lucca.requests(tenant).length, 2 * requests + 1);
    return { ...ended, secondStarted };
  }

  test('two reads of one tenant go one after the other: the second lets the leading read finish first, a key check does not wait for either', async () => {
    const requests = 4 * LIMIT.limit;
    const { first, second, keyCheck } = await readsOfOneTenant(60_000, requests);
    assert.ok(
      second[0]! > first.at(-1)!,
      `the second read's first request (${second[0]}) after the first read's last (${first.at(-1)})`,
    );
    assert.ok(keyCheck[0]! < first.at(-1)!, 'the key check went while the first read was still reading');
    // A lead that stopped claiming is let go after its grace, not after the second read's deferral.
    const handedOver = second[0]! - first.at(-1)!;
    assert.ok(
      handedOver < LEAD_GRACE_MS + LIMIT.windowMs + 5_000,
      `the second read went ${handedOver} ms after the first`,
    );
  });

  test('a read lets the leading one go first for its deferral only, then shares the budget (a lead reading ten times longer)', async () => {
    const deferMs = 900;
    const requests = 4 * LIMIT.limit;
    const { first, second, secondStarted } = await readsOfOneTenant(deferMs, requests);
    const waited = second[0]! - secondStarted;
    assert.ok(waited >= deferMs, `the second read waited ${waited} ms, its deferral at least`);
    assert.ok(
      second[0]! < first.at(-1)!,
      `past its deferral the second read shares the budget: its first request (${second[0]}) before the first read's last (${first.at(-1)})`,
    );
  });

  /**
   * A clock of the test's own, on Lucca's production limit and the production lead constants: a
   * budget sleeping moves it forward at once, so 75 s of deferral pass in the time of the store's
   * reads and writes (the real store, which keeps the times it is given).
   */
  function virtualClock() {
    let t = Date.now();
    return {
      now: () => t,
      sleep: async (ms: number) => {
        t += Math.max(0, ms);
        await new Promise((resolve) => setImmediate(resolve));
      },
      advance: (ms: number) => (t += ms),
    };
  }

  test('a read defers to another read leading ten times longer for READ_LEAD_DEFER_MS (75 s) exactly, saying so, then takes its slot', async () => {
    assert.equal(READ_LEAD_DEFER_MS, 75_000);
    const { url } = newTenant(false);
    const clock = virtualClock();
    const { repos } = await otherProcess();
    const tenantKey = new SharedLuccaBudget(repos.luccaBudgets, url).tenant;
    // Another company's read leads the tenant, and goes on leading ten times the deferral.
    assert.ok(
      await repos.luccaBudgets.takeLead(tenantKey, 'another read', clock.now() + 10 * READ_LEAD_DEFER_MS, null),
    );
    const told: LeadWait[] = [];
    const budget = new SharedLuccaBudget(repos.luccaBudgets, url, {
      leadDeferMs: READ_LEAD_DEFER_MS,
      onLeadWait: (w) => told.push(w),
      now: clock.now,
      sleep: clock.sleep,
    });
    const began = clock.now();
    await budget.acquire();
    assert.equal(clock.now() - began, READ_LEAD_DEFER_MS, 'it let the lead go first for its deferral, no longer');
    assert.deepEqual(told, [
      { waiting: true, atMostUntil: began + READ_LEAD_DEFER_MS },
      { waiting: false, waitedMs: READ_LEAD_DEFER_MS },
    ]);
    // Past its deferral it shares the budget: the next request does not wait for the lead again.
    const next = clock.now();
    await budget.acquire();
    assert.equal(clock.now(), next);
    assert.equal(told.length, 2);
  });

  test('a lead that stopped reading is let go after LEAD_GRACE_MS (5 s), not after the 75 s deferral; one quiet ten times longer holds nobody', async () => {
    assert.equal(LEAD_GRACE_MS, 5_000);
    const { url } = newTenant(false);
    const clock = virtualClock();
    const processOf = async () => (await otherProcess()).repos.luccaBudgets;
    const read = async (told: LeadWait[] = []) =>
      new SharedLuccaBudget(await processOf(), url, {
        leadDeferMs: READ_LEAD_DEFER_MS,
        onLeadWait: (w) => told.push(w),
        now: clock.now,
        sleep: clock.sleep,
      });
    // The first read sends one request (it leads the tenant from then), then stops reading.
    const leading = await read();
    await leading.acquire();
    const lastSlot = clock.now();
    clock.advance(1_000);
    const told: LeadWait[] = [];
    await (await read(told)).acquire();
    assert.equal(clock.now() - lastSlot, LEAD_GRACE_MS, 'the quiet lead was let go at the end of its grace');
    assert.deepEqual(told, [
      { waiting: true, atMostUntil: lastSlot + 1_000 + READ_LEAD_DEFER_MS },
      { waiting: false, waitedMs: LEAD_GRACE_MS - 1_000 },
    ]);

    // The second read leads now; quiet for ten times the grace, it holds a third read not at all.
    clock.advance(10 * LEAD_GRACE_MS);
    const third: LeadWait[] = [];
    const from = clock.now();
    await (await read(third)).acquire();
    assert.equal(clock.now(), from);
    assert.deepEqual(third, []);
  });

  test('what one request costs the store: by _id only, a handful of commands', async (t) => {
    const { url } = newTenant(false);
    const { repos, mongo } = await otherProcess(true);
    const commands = countCommands(mongo);
    const measure = async (budget: SharedLuccaBudget, requests: number) => {
      const before = commands.snapshot().commands;
      const started = performance.now();
      for (let i = 0; i < requests; i++) await (await budget.acquire()).answered();
      return {
        commands: (commands.snapshot().commands - before) / requests,
        ms: (performance.now() - started) / requests,
      };
    };
    // Room at once: the cost a request adds to a read (its slot taken, then marked sent and answered).
    const free = await measure(new SharedLuccaBudget(repos.luccaBudgets, url, { limit: 1_000, windowMs: 60_000 }), 50);
    // Every slot waited for (as under the limit): the slot a window back and the hold are read again on waking.
    const { url: limited } = newTenant(false);
    const waited = await measure(
      new SharedLuccaBudget(repos.luccaBudgets, limited, { limit: 5, windowMs: 200, marginMs: 0 }),
      30,
    );
    t.diagnostic(
      `room at once: ${free.commands.toFixed(1)} commands, ${free.ms.toFixed(1)} ms per request; ` +
        `waited for: ${waited.commands.toFixed(1)} commands per request`,
    );
    assert.ok(free.commands <= 8, `${free.commands} commands per request with room`);
    assert.ok(waited.commands <= 12, `${waited.commands} commands per request waited for`);
  });
});
