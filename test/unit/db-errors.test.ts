import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isDuplicateKeyOnly } from '../../db/errors';

describe('isDuplicateKeyOnly', () => {
  const cases: [string, unknown, boolean][] = [
    ['a duplicate key error', { code: 11000 }, true],
    ['a bulk error of duplicates only', { writeErrors: [{ code: 11000 }, { code: 11000 }] }, true],
    ['a bulk error with one duplicate, given bare', { writeErrors: { code: 11000 } }, true],
    ['a bulk error mixing a duplicate and another failure', { writeErrors: [{ code: 11000 }, { code: 2 }] }, false],
    [
      'a network error (no write errors at all)',
      Object.assign(new Error('connection reset'), { code: undefined }),
      false,
    ],
    ['a bulk error with an empty list of write errors', { writeErrors: [] }, false],
    ['a server selection timeout', new Error('Server selection timed out after 10000 ms'), false],
  ];
  for (const [name, err, expected] of cases) {
    test(`${name} ${expected ? 'is' : 'is not'} swallowed as an idempotent re-insert`, () => {
      assert.equal(isDuplicateKeyOnly(err), expected);
    });
  }
});
