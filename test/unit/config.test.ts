import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, formatListenAddress, loadConfig } from '../../config/env';
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

  test('worker versioning is off unless a deployment name is given, and a name or build id Temporal would refuse is refused', () => {
    const config = loadConfig({});
    assert.equal(config.WORKER_DEPLOYMENT_NAME, '');
    assert.equal(config.WORKER_BUILD_ID, '');
    assert.equal(loadConfig({ WORKER_DEPLOYMENT_NAME: ' lucca-sync ' }).WORKER_DEPLOYMENT_NAME, 'lucca-sync');
    assert.equal(loadConfig({ WORKER_BUILD_ID: 'v1.2.3' }).WORKER_BUILD_ID, 'v1.2.3');
    assert.match(
      refusal(() => loadConfig({ WORKER_DEPLOYMENT_NAME: 'lucca.sync' })),
      /WORKER_DEPLOYMENT_NAME/,
    );
    assert.match(
      refusal(() => loadConfig({ WORKER_BUILD_ID: 'a b' })),
      /WORKER_BUILD_ID/,
    );
  });

  test("the worker's metrics and health servers are off unless given an IP and a port", () => {
    const config = loadConfig({});
    assert.equal(config.WORKER_METRICS_ADDRESS, null);
    assert.equal(config.WORKER_HEALTH_ADDRESS, null);
    assert.equal(loadConfig({ WORKER_METRICS_ADDRESS: '' }).WORKER_METRICS_ADDRESS, null);
    assert.deepEqual(loadConfig({ WORKER_METRICS_ADDRESS: '0.0.0.0:9464' }).WORKER_METRICS_ADDRESS, {
      host: '0.0.0.0',
      port: 9464,
    });
    assert.deepEqual(loadConfig({ WORKER_HEALTH_ADDRESS: '8080' }).WORKER_HEALTH_ADDRESS, {
      host: '0.0.0.0',
      port: 8080,
    });
    const ipv6 = loadConfig({ WORKER_METRICS_ADDRESS: '[::]:9464' }).WORKER_METRICS_ADDRESS;
    assert.deepEqual(ipv6, { host: '::', port: 9464 });
    assert.equal(formatListenAddress(ipv6), '[::]:9464');
    for (const bad of [
      'localhost:9464',
      '0.0.0.0',
      '0.0.0.0:0',
      '0.0.0.0:70000',
      '999.1.1.1:9464',
      'http://0.0.0.0:9464',
    ]) {
      assert.match(
        refusal(() => loadConfig({ WORKER_METRICS_ADDRESS: bad })),
        new RegExp(`WORKER_METRICS_ADDRESS="${bad.replace(/[.[\]]/g, '\\$&')}": must be <ip>:<port>`),
      );
    }
  });

  test('the byte cap on a Lucca answer is 16 MiB by default, a whole number of bytes from 1 MiB to 256 MiB', () => {
    assert.equal(loadConfig({}).LUCCA_MAX_PAGE_BYTES, 16 * 1024 * 1024);
    assert.equal(loadConfig({ LUCCA_MAX_PAGE_BYTES: '1048576' }).LUCCA_MAX_PAGE_BYTES, 1_048_576);
    assert.equal(loadConfig({ LUCCA_MAX_PAGE_BYTES: '268435456' }).LUCCA_MAX_PAGE_BYTES, 268_435_456);
    for (const bad of ['0', '-1', '1048575', '268435457', '1.5', '16MB', 'off']) {
      assert.match(
        refusal(() => loadConfig({ LUCCA_MAX_PAGE_BYTES: bad })),
        new RegExp(`LUCCA_MAX_PAGE_BYTES="${bad}": `),
      );
    }
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

describe("the console's public URL and trusted proxies are checked at start", () => {
  test('trusted proxies are addresses or CIDR ranges; anything else is refused, named', async () => {
    const settings = await loadConsoleSettings({
      CONSOLE_TRUSTED_PROXIES: ' 10.0.0.5, 10.1.0.0/16,fd00::/8 , ::1',
    });
    assert.deepEqual(settings.trustedProxies, ['10.0.0.5', '10.1.0.0/16', 'fd00::/8', '::1']);
    const message = await consoleRefusal({ CONSOLE_TRUSTED_PROXIES: '10.0.0.5,proxy.internal,10.0.0.0/33,127.1' });
    assert.match(message, /"proxy\.internal" is neither an IP address nor a CIDR range/);
    assert.match(message, /"10\.0\.0\.0\/33" is neither/);
    assert.match(message, /"127\.1" is neither/);
    assert.doesNotMatch(message, /"10\.0\.0\.5" is neither/);
  });

  test('Secure follows the public URL, not the bind address: https needs the TLS proxy listed', async () => {
    const local = await loadConsoleSettings({});
    assert.equal(local.publicUrl, 'http://127.0.0.1:3400');
    const proxied = await loadConsoleSettings({
      CONSOLE_PUBLIC_URL: 'https://console.example.com/admin/',
      CONSOLE_TRUSTED_PROXIES: '127.0.0.1',
    });
    assert.equal(proxied.publicUrl, 'https://console.example.com');
    assert.match(
      await consoleRefusal({ CONSOLE_PUBLIC_URL: 'https://console.example.com' }),
      /CONSOLE_PUBLIC_URL is https .* CONSOLE_TRUSTED_PROXIES/,
    );
    assert.match(
      await consoleRefusal({ CONSOLE_HOST: '0.0.0.0' }),
      /CONSOLE_HOST="0\.0\.0\.0" is not loopback: set CONSOLE_PUBLIC_URL/,
    );
    const plainOnPurpose = await loadConsoleSettings({
      CONSOLE_HOST: '0.0.0.0',
      CONSOLE_PUBLIC_URL: 'http://10.0.0.8:3400',
    });
    assert.equal(plainOnPurpose.publicUrl, 'http://10.0.0.8:3400');
    assert.match(await consoleRefusal({ CONSOLE_PUBLIC_URL: 'ftp://console.example.com' }), /CONSOLE_PUBLIC_URL="ftp/);
  });

  test('the retired CONSOLE_SECURE_COOKIE is refused with what replaces it', async () => {
    assert.match(
      await consoleRefusal({ CONSOLE_SECURE_COOKIE: 'auto' }),
      /CONSOLE_SECURE_COOKIE="auto": is replaced by CONSOLE_PUBLIC_URL/,
    );
  });
});
