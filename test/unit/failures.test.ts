import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { toTemporalFailure } from '../../activities/errors';
import { ApiKeyDecryptError } from '../../db/api-key-cipher';
import { failureCode, failureType, isLuccaFailure } from '../../domain/failures';
import { blockedPlanError } from '../../domain/guards';
import { describeLuccaFailure } from '../../console/data';
import { OperationError } from '../../operations';
import { errorForStatus, LuccaUnreachableError } from '../../lucca/errors';

describe('one failure vocabulary, from a Lucca error to the run and the console', () => {
  test('the failure types recorded in past histories keep their names', () => {
    // A replayed history branches on these strings: renaming one changes what an old run meant.
    assert.deepEqual(
      (
        [
          'lucca-auth',
          'lucca-request',
          'lucca-not-lucca',
          'lucca-unavailable',
          'configuration',
          'company-not-found',
          'stalled',
          'run-too-long',
        ] as const
      ).map(failureType),
      [
        'LuccaAuthError',
        'LuccaRequestError',
        'LuccaNotLuccaError',
        'LuccaUnavailableError',
        'ConfigurationError',
        'CompanyNotFoundError',
        'SyncStalledError',
        'SyncRunTooLongError',
      ],
    );
    assert.equal(failureCode('LuccaUnavailableError'), 'lucca-unavailable');
    assert.equal(failureCode('SomethingElse'), null);
    assert.equal(failureCode(undefined), null);
  });

  test("each Lucca status becomes a Temporal failure whose type reads back as the client's own code", () => {
    for (const status of [401, 403, 404, 408, 429, 500, 302, 418]) {
      const lucca = errorForStatus(status, '7', { host: 'acme.ilucca.net', now: new Date(0) });
      const failure = toTemporalFailure(lucca);
      assert.ok(failure instanceof ApplicationFailure);
      assert.equal(failureCode(failure.type), lucca.code, `HTTP ${status}`);
      assert.ok(isLuccaFailure(failureCode(failure.type)));
      assert.equal(failure.nonRetryable, !lucca.retryable, `HTTP ${status}`);
    }
    const unreachable = toTemporalFailure(new LuccaUnreachableError('no route'));
    assert.ok(unreachable instanceof ApplicationFailure);
    assert.equal(failureCode(unreachable.type), 'lucca-unreachable');
    const rateLimited = toTemporalFailure(errorForStatus(429, '7', { now: new Date(0) }));
    assert.ok(rateLimited instanceof ApplicationFailure);
    assert.equal(rateLimited.nextRetryDelay, 7000);
  });

  test('a key that does not decrypt is a configuration failure, anything else an internal one', () => {
    const config = toTemporalFailure(new ApiKeyDecryptError());
    assert.ok(config instanceof ApplicationFailure);
    assert.deepEqual([failureCode(config.type), config.nonRetryable], ['configuration', true]);
    const internal = toTemporalFailure(new TypeError('boom'));
    assert.ok(internal instanceof ApplicationFailure);
    assert.deepEqual(
      [failureCode(internal.type), internal.nonRetryable, internal.message],
      ['internal', false, 'TypeError: boom'],
    );
  });

  test('the console tells a bad key from a missing permission by the status Lucca answered', () => {
    const outcome = (code: ConstructorParameters<typeof OperationError>[0], status?: number) =>
      describeLuccaFailure(new OperationError(code, 'said', status)).outcome;
    assert.equal(outcome('lucca-auth', 401), 'bad-key');
    assert.equal(outcome('lucca-auth', 403), 'missing-permission');
    assert.equal(outcome('lucca-not-lucca'), 'not-lucca');
    assert.equal(outcome('not-a-lucca-host'), 'not-lucca');
    assert.equal(outcome('lucca-unreachable'), 'unreachable');
    assert.equal(outcome('lucca-unavailable'), 'other');
    assert.equal(describeLuccaFailure(new Error('x')).outcome, 'other');
  });

  test("a blocked plan's error names every guard that fired, coded by the first", () => {
    const error = blockedPlanError({
      fired: [
        { guard: 'blank', field: 'birthDate', count: 900, limit: 100 },
        { guard: 'email', count: 150, limit: 100 },
      ],
      deactivations: 0,
      activeProfiles: 1000,
      limit: 100,
    });
    assert.equal(error.code, 'mass-blanking');
    assert.match(
      error.message,
      /blank birthDate on 900 profiles \(limit 100\), change the email of 150 linked profiles \(limit 100\)/,
    );
    // A run planned before there were several guards: its one guard was the deactivations'.
    const old = blockedPlanError({ deactivations: 40, activeProfiles: 100, limit: 10 });
    assert.equal(old.code, 'mass-deactivation');
    assert.match(old.message, /deactivate 40 profiles \(limit 10\), out of 100 linked active profiles/);
  });
});
