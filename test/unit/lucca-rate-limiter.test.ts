import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { limiterFor, RollingWindowLimiter } from '../../lucca/rate-limiter';

/** A clock that only moves when someone sleeps on it, recording each sleep. */
function manualClock(start = 1_000_000) {
  let now = start;
  const sleeps: number[] = [];
  return {
    now: () => now,
    sleeps,
    advance: (ms: number) => {
      now += ms;
    },
    sleep: async (ms: number, signal?: AbortSignal) => {
      signal?.throwIfAborted();
      sleeps.push(ms);
      now += ms;
    },
  };
}

describe('RollingWindowLimiter', () => {
  test('the 51st request of a window waits until the first request leaves the window', async () => {
    const clock = manualClock();
    const limiter = new RollingWindowLimiter({ limit: 50, windowMs: 60_000, now: clock.now, sleep: clock.sleep });
    const start = clock.now();
    for (let i = 0; i < 50; i++) {
      await limiter.acquire();
      clock.advance(100);
    }
    assert.deepEqual(clock.sleeps, [], 'the first 50 requests do not wait');
    await limiter.acquire();
    assert.equal(clock.now(), start + 60_000);
    assert.deepEqual(clock.sleeps, [60_000 - 5_000]);
    await limiter.acquire();
    assert.equal(clock.now(), start + 60_100, 'the 52nd waits for the second slot');
  });

  test('any window of windowMs holds at most limit acquisitions', async () => {
    const clock = manualClock();
    const limiter = new RollingWindowLimiter({ limit: 5, windowMs: 1_000, now: clock.now, sleep: clock.sleep });
    const times: number[] = [];
    for (let i = 0; i < 23; i++) {
      await limiter.acquire();
      times.push(clock.now());
      clock.advance(i % 3 === 0 ? 0 : 137);
    }
    for (let i = 5; i < times.length; i++) {
      assert.ok((times[i] ?? 0) - (times[i - 5] ?? 0) >= 1_000, `request ${i} came too soon`);
    }
  });

  test('concurrent callers are served in arrival order without exceeding the limit', async () => {
    let now = 0;
    let sleepers: (() => void)[] = [];
    const limiter = new RollingWindowLimiter({
      limit: 2,
      windowMs: 1_000,
      now: () => now,
      sleep: () => new Promise<void>((resolve) => sleepers.push(resolve)),
    });
    const moveClockTo = (ms: number) => {
      now = ms;
      const waking = sleepers;
      sleepers = [];
      for (const wake of waking) wake();
    };
    const order: number[] = [];
    const all = [0, 1, 2, 3, 4].map((i) => limiter.acquire().then(() => order.push(i)));

    await Promise.all(all.slice(0, 2));
    assert.deepEqual(order, [0, 1]);
    assert.equal(sleepers.length, 3, 'the other three wait while the clock stands still');
    moveClockTo(1_000);
    await Promise.all(all.slice(2, 4));
    assert.deepEqual(order, [0, 1, 2, 3]);
    assert.equal(sleepers.length, 1, 'the fifth waits for the next window');
    moveClockTo(2_000);
    await Promise.all(all);
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
  });

  test('an aborted wait rejects with the signal reason and gives its slot back', async () => {
    const clock = manualClock();
    const controller = new AbortController();
    const reason = new Error('cancelled by Temporal');
    // The caller is cancelled as its wait begins.
    const sleep = (ms: number, signal?: AbortSignal) => {
      controller.abort(reason);
      return clock.sleep(ms, signal);
    };
    const limiter = new RollingWindowLimiter({ limit: 1, windowMs: 1_000, now: clock.now, sleep });
    await limiter.acquire();
    await assert.rejects(limiter.acquire(controller.signal), (error) => error === reason);
    const before = clock.now();
    await limiter.acquire();
    assert.equal(clock.now(), before + 1_000, 'the next caller waits for the first slot only');
  });

  test('a real-time abort interrupts a long wait', async () => {
    const limiter = new RollingWindowLimiter({ limit: 1, windowMs: 60_000 });
    await limiter.acquire();
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('stop')), 20);
    await assert.rejects(limiter.acquire(controller.signal), /stop/);
    assert.ok(Date.now() - started < 5_000);
  });

  test('a margin spaces a request that much further from the one limit places earlier', async () => {
    const clock = manualClock();
    const limiter = new RollingWindowLimiter({
      limit: 2,
      windowMs: 1_000,
      marginMs: 250,
      now: clock.now,
      sleep: clock.sleep,
    });
    const start = clock.now();
    await limiter.acquire();
    await limiter.acquire();
    await limiter.acquire();
    assert.equal(clock.now(), start + 1_250);
  });

  test('holdFor delays every later request, as Lucca asks after a 429', async () => {
    const clock = manualClock();
    const limiter = new RollingWindowLimiter({ limit: 50, windowMs: 60_000, now: clock.now, sleep: clock.sleep });
    await limiter.acquire();
    const start = clock.now();
    limiter.holdFor(3_000);
    await limiter.acquire();
    assert.equal(clock.now(), start + 3_000);
  });

  test('limit Infinity never waits', async () => {
    const clock = manualClock();
    const limiter = new RollingWindowLimiter({ limit: Infinity, windowMs: 1, now: clock.now, sleep: clock.sleep });
    limiter.holdFor(10_000);
    for (let i = 0; i < 10_000; i++) await limiter.acquire();
    assert.deepEqual(clock.sleeps, []);
  });

  test('nonsense limits are refused', () => {
    assert.throws(() => new RollingWindowLimiter({ limit: 0, windowMs: 1000 }), RangeError);
    assert.throws(() => new RollingWindowLimiter({ limit: 1.5, windowMs: 1000 }), RangeError);
    assert.throws(() => new RollingWindowLimiter({ limit: 5, windowMs: 0 }), RangeError);
    assert.throws(() => new RollingWindowLimiter({ limit: 5, windowMs: 10, marginMs: -1 }), RangeError);
  });
});

describe('limiterFor', () => {
  test('one limiter per tenant, shared by every caller of the same tenant', () => {
    const a = limiterFor('https://acme.ilucca.net');
    assert.equal(limiterFor('https://acme.ilucca.net/'), a);
    assert.notEqual(limiterFor('https://globex.ilucca.net'), a);
    assert.equal(a.limit, 50);
    assert.equal(a.windowMs, 60_000);
    assert.ok(a.marginMs > 0 && a.marginMs <= 1_000, 'a small margin for network jitter');
  });

  test('tenants of a fake Lucca served under paths get separate budgets', () => {
    assert.notEqual(limiterFor('http://127.0.0.1:4010/t/acme'), limiterFor('http://127.0.0.1:4010/t/globex'));
  });

  test('a disabled limit is its own limiter', () => {
    const off = limiterFor('https://initech.ilucca.net', { limit: Infinity });
    assert.equal(off.limit, Infinity);
    assert.notEqual(limiterFor('https://initech.ilucca.net'), off);
    assert.equal(limiterFor('https://initech.ilucca.net', { limit: Infinity }), off);
  });
});
