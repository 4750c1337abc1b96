import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { waitHealthy } from '../../dev-tools/stack/stack';

describe("waiting for a dev stack's service to start", () => {
  const alive = spawn('sleep', ['60']);
  after(() => alive.kill());

  test('a slow first start is waited for, with a line of progress while it lasts', async () => {
    const lines: string[] = [];
    let polls = 0;
    const slow = { name: 'temporal' as const, healthy: async () => ++polls > 6 };
    await waitHealthy(slow, alive.pid!, { timeoutMs: 10_000, progressEveryMs: 400, log: (l) => lines.push(l) });
    assert.ok(polls > 6);
    assert.ok(lines.length >= 2, lines.join('\n'));
    assert.match(lines[0]!, /still waiting for temporal \(\d+ s; a first start sets up its database/);
  });

  test('a service whose process exits is reported at once, not after the timeout', async () => {
    const gone = spawn('true');
    await new Promise((resolve) => gone.once('exit', resolve));
    const started = Date.now();
    await assert.rejects(
      waitHealthy({ name: 'ferretdb', healthy: async () => false }, gone.pid!, { timeoutMs: 60_000, log: () => {} }),
      /ferretdb did not become healthy .*exited/,
    );
    assert.ok(Date.now() - started < 5_000);
  });

  test('a service still starting past the timeout says how to wait longer', async () => {
    await assert.rejects(
      waitHealthy({ name: 'temporal', healthy: async () => false }, alive.pid!, { timeoutMs: 600, log: () => {} }),
      /within 1 s .*still running: set DEV_STACK_START_TIMEOUT_MS to wait longer/,
    );
  });
});
