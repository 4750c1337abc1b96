import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runIdAt, runIdStartedAt } from '../../temporal/ids';

test('a run id says when its run started, to the second, and nothing else is read as one', () => {
  const startedAt = new Date('2026-11-22T17:45:01.789Z');
  const id = runIdAt(startedAt, '1a2b3c4d');
  assert.equal(id, '20261122-174501-1a2b3c4d');
  assert.equal(runIdStartedAt(id), Date.parse('2026-11-22T17:45:01Z'));
  assert.equal(runIdStartedAt('run-1a2b3c4d'), null);
  assert.equal(runIdStartedAt('bench-20261122'), null);
});
