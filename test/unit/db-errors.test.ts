import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MongoServerError } from 'mongodb';
import { isDuplicateKeyOnly, isUniqueViolation } from '../../db/errors';

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

describe('isUniqueViolation', () => {
  const server = (message: string, code: number) => Object.assign(new MongoServerError({ message }), { code });
  const cases: [string, unknown, boolean][] = [
    ['a duplicate key error (MongoDB, FerretDB inserts)', { code: 11000 }, true],
    [
      "FerretDB/SQLite's answer to an update a unique index refused",
      server(
        "[msg_update.go:1] constraint failed: UNIQUE constraint failed: index 'profiles_x_platform_email' (2067)",
        1,
      ),
      true,
    ],
    [
      "FerretDB/PostgreSQL's answer to an update a unique index refused",
      server('ERROR: duplicate key value violates unique constraint "profiles_x_platform_email" (SQLSTATE 23505)', 1),
      true,
    ],
    ['another internal error of the store', server('disk I/O error', 1), false],
    ['a client-side error quoting the same words', new Error('UNIQUE constraint failed'), false],
  ];
  for (const [name, err, expected] of cases) {
    test(`${name} ${expected ? 'is' : 'is not'} a unique index refusing a write`, () => {
      assert.equal(isUniqueViolation(err), expected);
    });
  }
});
