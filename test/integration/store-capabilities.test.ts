import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { storeCapabilities } from '../../db/store-capabilities';
import { openStack, type Stack } from './helpers';

describe('what the store can take, asked of the store itself', () => {
  let stack: Stack;

  before(async () => {
    stack = await openStack('capabilities');
  });

  after(async () => {
    await stack?.close();
  });

  test('a fresh database gets the capabilities of the engine the stack runs', async () => {
    // A database nobody wrote to yet: where the worker meets a new one, as the benchmark does.
    const fresh = stack.mongo.db(`${stack.db.databaseName}_fresh`.slice(0, 63));
    try {
      const caps = await storeCapabilities(fresh);
      const info = await fresh.admin().command({ buildInfo: 1 });
      if (!('ferretdbVersion' in info)) {
        assert.deepEqual(caps, {
          engine: 'mongodb',
          maxUpdatesPerCommand: Infinity,
          maxDeletesPerCommand: Infinity,
          partialIndexes: true,
          multiKeyFilterPushdown: true,
          rewriteFrom: Infinity,
        });
        return;
      }
      assert.equal(caps.engine, 'ferretdb');
      assert.equal(caps.maxUpdatesPerCommand, 10, 'an order of magnitude under the stall');
      assert.equal(caps.partialIndexes, false);
      assert.equal(
        caps.rewriteFrom,
        process.env.DEV_STORE_ENGINE === 'postgresql' ? 600 : 100,
        'from how many updates a batch is rewritten instead of updated one by one',
      );
      // SQLite decodes a filter of several keys in Go; PostgreSQL evaluates it in SQL.
      assert.equal(caps.multiKeyFilterPushdown, process.env.DEV_STORE_ENGINE === 'postgresql');
    } finally {
      await fresh.dropDatabase();
    }
  });
});
