import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { MongoClient } from 'mongodb';
import { connectMongo } from '../../db/mongo';
import { monitorStuckAfterMs } from '../../db/monitor-watchdog';
import { StoreRelay } from '../../dev-tools/reliability/store-relay';
import { uniqueSuffix } from './helpers';

/**
 * The store client's server monitor wedged, on the real store behind a relay (the reliability
 * rig's). The wedge the chaos checks met by chance (a heartbeat written to a socket the store had
 * just closed, waiting for ever to drain) is made on purpose here: the monitor's open connection
 * loses its socket without the driver being told, then a write's connection is cut under it (as
 * when the store goes away), so the server goes Unknown and only a heartbeat can bring it back. Timeouts
 * are shortened through the URI (connect 500 ms, heartbeats every 500 ms: a monitor stuck after
 * 2.5 s) so that the test takes seconds; production's are the driver's own (110 s).
 */
describe("the store client's server monitor, wedged and brought back (real store)", () => {
  let relay: StoreRelay;
  const fast = (uri: string) => {
    const url = new URL(uri);
    url.searchParams.set('connectTimeoutMS', '500');
    url.searchParams.set('heartbeatFrequencyMS', '500');
    return url.toString();
  };

  before(async () => {
    relay = await StoreRelay.open(process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017');
  });

  after(async () => {
    await relay?.close();
  });

  /** Wedges `client`'s monitor, then cuts a write's connection under it: the server goes Unknown. */
  async function wedge(client: MongoClient, dbName: string): Promise<void> {
    const servers = (client as unknown as { topology?: { s?: { servers?: Map<string, unknown> } } }).topology?.s
      ?.servers;
    const server = servers?.values().next().value as
      { monitor?: { connection?: { socket?: NodeJS.EventEmitter & { destroy(): void } } } } | undefined;
    const socket = server?.monitor?.connection?.socket;
    assert.ok(socket, "the driver keeps its monitor's connection where this test reaches it (mongodb 7.x)");
    socket.removeAllListeners('close');
    socket.removeAllListeners('error');
    socket.destroy();
    const held = relay.hold({ command: 'insert', collection: 'probe' });
    const write = client.db(dbName).collection('probe').insertOne({ during: 'cut' });
    await held.reach(10_000);
    held.drop();
    await assert.rejects(write);
  }

  const insertWithin = async (client: MongoClient, dbName: string, ms: number) => {
    const deadline = Date.now() + ms;
    for (;;) {
      try {
        await client.db(dbName).collection('probe').insertOne({ after: 'cut' }, { timeoutMS: 1_000 });
        return true;
      } catch {
        if (Date.now() > deadline) return false;
        await sleep(200);
      }
    }
  };

  test('a plain client stays cut off from a store that is back; the watched one reconnects within its bound and writes again', async () => {
    const dbName = `monitor_${uniqueSuffix()}`;
    const plain = await new MongoClient(fast(relay.uri), { serverSelectionTimeoutMS: 1_000 }).connect();
    const reconnects: number[] = [];
    const { client: watched } = await connectMongo(fast(relay.uri), dbName, {
      onReconnect: ({ stuckMs }) => reconnects.push(stuckMs),
    });
    try {
      const stuckAfterMs = monitorStuckAfterMs(watched);
      assert.equal(stuckAfterMs, 2_500);
      for (const client of [plain, watched]) await client.db(dbName).collection('probe').insertOne({ before: 'cut' });

      await wedge(plain, dbName);
      assert.equal(
        await insertWithin(plain, dbName, 3 * stuckAfterMs),
        false,
        'the driver alone never brings a wedged monitor back: the store is up, its client cannot reach it',
      );

      await wedge(watched, dbName);
      assert.ok(await insertWithin(watched, dbName, 3 * stuckAfterMs), 'the watched client writes again');
      assert.equal(reconnects.length, 1, 'reconnected once');
      assert.ok(reconnects[0]! > stuckAfterMs, `after its bound (${reconnects[0]} ms)`);
      assert.equal(await watched.db(dbName).collection('probe').countDocuments({ after: 'cut' }), 1);
    } finally {
      await plain.close();
      await watched.db(dbName).dropDatabase();
      await watched.close();
    }
  });

  test('a healthy client, heartbeats answered, writing now and then, is never reconnected over ten times the bound', async () => {
    const dbName = `monitor_${uniqueSuffix()}`;
    const reconnects: number[] = [];
    const { client } = await connectMongo(fast(relay.uri), dbName, {
      onReconnect: ({ stuckMs }) => reconnects.push(stuckMs),
    });
    try {
      const until = Date.now() + 10 * monitorStuckAfterMs(client);
      let writes = 0;
      while (Date.now() < until) {
        await client.db(dbName).collection('probe').insertOne({ n: writes++ });
        await sleep(1_000);
      }
      assert.deepEqual(reconnects, []);
      assert.equal(await client.db(dbName).collection('probe').countDocuments({}), writes);
    } finally {
      await client.db(dbName).dropDatabase();
      await client.close();
    }
  });
});
