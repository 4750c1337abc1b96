import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ObjectId } from 'mongodb';
import { connectMongo, repositories } from '../../db/mongo';
import type { ApplicableChange } from '../../db/profiles-repository';
import { MONGODB_URI, openStack, uniqueSuffix, type Stack } from './helpers';

/** A planned create of Lucca user `userId`: what a plan chunk holds. */
const create = (userId: number): ApplicableChange => ({
  action: 'create',
  luccaUserId: userId,
  profileId: new ObjectId().toHexString(),
  target: {
    fields: {
      firstName: `Zoé${userId}`,
      lastName: 'Lefèvre',
      email: `zoe${userId}@acme.example`,
      birthDate: '1990-01-01',
      contractStart: '2024-01-01',
      contractEnd: null,
    },
    status: 'active',
  },
  reasons: [],
});

describe('a run’s working data on the real store', () => {
  let stack: Stack;

  before(async () => {
    stack = await openStack('working-data');
  });

  after(async () => {
    await stack?.close();
  });

  test('the apply reads each plan chunk while the one before it is applied, in plan order, and a reader that stops early leaves no cursor open', async () => {
    const runId = `run-${uniqueSuffix()}`;
    for (let slot = 0; slot < 5; slot++) {
      await stack.repos.workingData.storePlanSlot(runId, slot, [create(slot * 10 + 1), create(slot * 10 + 2)]);
    }
    // The apply's process, with its store commands watched.
    const watched = await connectMongo(MONGODB_URI, stack.db.databaseName, { monitorCommands: true });
    const started: string[] = [];
    watched.client.on('commandStarted', (e) => {
      if (e.commandName === 'find' || e.commandName === 'getMore' || e.commandName === 'killCursors') {
        started.push(e.commandName);
      }
    });
    try {
      const workingData = repositories(watched.db).workingData;
      const slots: number[] = [];
      const asked: string[][] = [];
      for await (const chunk of workingData.readPlanChunks(runId, null)) {
        slots.push(chunk.slot);
        assert.deepEqual(
          chunk.changes.map((c) => c.luccaUserId),
          [chunk.slot * 10 + 1, chunk.slot * 10 + 2],
        );
        // While this chunk is "applied", the next one is already asked for (bounded wait).
        const deadline = Date.now() + 10_000;
        const before = started.length;
        while (Date.now() < deadline && started.length === before && slots.length < 5) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        asked.push(started.slice(before));
      }
      assert.deepEqual(slots, [0, 1, 2, 3, 4]);
      assert.deepEqual(
        asked.slice(0, 4).map((commands) => commands.includes('getMore')),
        [true, true, true, true],
        'the next chunk is asked for before the caller asks for it',
      );

      // A reader that stops after the first chunk (an apply that failed) closes the cursor it read ahead on.
      started.length = 0;
      for await (const chunk of workingData.readPlanChunks(runId, null)) {
        assert.equal(chunk.slot, 0);
        break;
      }
      assert.ok(started.includes('killCursors'), `the cursor is closed (${started.join(', ')})`);

      // Resuming after a chunk reads the rest, still in order.
      const rest: number[] = [];
      for await (const chunk of workingData.readPlanChunks(runId, 'chunk-000000002-999')) rest.push(chunk.slot);
      assert.deepEqual(rest, [3, 4]);
    } finally {
      await watched.client.close();
    }
  });
});
