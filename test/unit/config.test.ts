import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../config/env';
import { loadConsoleSettings } from '../../console/config';

const refusal = (load: () => unknown): string => {
  try {
    load();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('the configuration was accepted');
};

const consoleRefusal = async (env: NodeJS.ProcessEnv): Promise<string> => {
  const err = await loadConsoleSettings(env).then(
    () => assert.fail('the console configuration was accepted'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConfigError, String(err));
  return err.message;
};

describe('a misconfiguration is refused at start, naming the setting and the value it was given', () => {
  test('each bad setting is named with its value, all at once', () => {
    const message = refusal(() =>
      loadConfig({ LUCCA_TIMEOUT_MS: '5', LUCCA_RATE_LIMIT: 'fast', LOG_LEVEL: 'loud', MONGODB_DB: 'a b' }),
    );
    assert.match(message, /LUCCA_TIMEOUT_MS="5": .*>=1000/);
    assert.match(message, /LUCCA_RATE_LIMIT="fast": must look like 50\/60s/);
    assert.match(message, /LOG_LEVEL="loud": /);
    assert.match(message, /MONGODB_DB="a b": must be a plain database name/);
  });

  test("a URI's credentials are masked, a secret is never repeated", async () => {
    const message = refusal(() => loadConfig({ MONGODB_URI: 'postgres://sync:hunter2@db.example.test/x' }));
    assert.match(message, /MONGODB_URI="postgres:\/\/\*\*\*@db\.example\.test\/x"/);
    assert.doesNotMatch(message, /hunter2/);

    const consoleMessage = await consoleRefusal({ CONSOLE_SESSION_SECRET: 'short-but-secret', CONSOLE_PORT: '99999' });
    assert.match(consoleMessage, /CONSOLE_SESSION_SECRET=\(hidden\): must be at least 32 characters/);
    assert.match(consoleMessage, /CONSOLE_PORT="99999": /);
    assert.doesNotMatch(consoleMessage, /short-but-secret/);
  });

  test('a good configuration loads with its defaults', () => {
    const config = loadConfig({});
    assert.equal(config.LUCCA_TIMEOUT_MS, 30_000);
    assert.deepEqual(config.LUCCA_RATE_LIMIT, { limit: 50, windowMs: 60_000 });
    assert.equal(config.SYNC_CHANGES_RETENTION_DAYS, 365, 'change records are kept a year by default');
  });

  test('the retention of change records is a whole number of days, at least one', () => {
    assert.equal(loadConfig({ SYNC_CHANGES_RETENTION_DAYS: '90' }).SYNC_CHANGES_RETENTION_DAYS, 90);
    for (const bad of ['0', '-5', '1.5', 'a year', '99999']) {
      assert.match(
        refusal(() => loadConfig({ SYNC_CHANGES_RETENTION_DAYS: bad })),
        new RegExp(`SYNC_CHANGES_RETENTION_DAYS="${bad}": `),
      );
    }
  });
});
