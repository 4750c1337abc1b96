import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { kindOf, sanitise } from '../../workflows/company-sync';
import type { SyncNowRequest } from '../../workflows/messages';

const ceilings = [{ guard: 'deactivate' as const, count: 3 }];

describe("the company workflow decodes a request's override once", () => {
  test('an override is the blocked run it names, and nothing else travels with it', () => {
    const sent = {
      requestedBy: 'ops',
      allowMassDeactivation: true,
      override: { blockedRunId: ' run-1 ', ceilings },
    } satisfies SyncNowRequest;
    assert.deepEqual(sanitise(sent, true), {
      trigger: 'manual',
      dryRun: false,
      requestedBy: 'ops',
      override: { blockedRunId: 'run-1' },
    });
  });

  test('a bare allowMassDeactivation is dropped: the request is a plain run', () => {
    assert.deepEqual(sanitise({ allowMassDeactivation: true }, true), { trigger: 'manual', dryRun: false });
    assert.deepEqual(sanitise({ override: { blockedRunId: '  ' } }, true), { trigger: 'manual', dryRun: false });
  });

  // Which requests fold into one run. A request decoded without the patch (`false`) is one an
  // execution recorded before overrides named their run received: those executions must fold as
  // they did then, the flag and the reviewed counts included. The expected answers are what the
  // version before this decoding answered for each pair.
  const folds: [string, SyncNowRequest, boolean, SyncNowRequest, boolean, boolean][] = [
    ['before the patch, a bare flag is a kind of its own', { allowMassDeactivation: true }, false, {}, false, false],
    [
      'before the patch, two bare flags fold',
      { allowMassDeactivation: true },
      false,
      { allowMassDeactivation: true },
      false,
      true,
    ],
    [
      'before the patch, an override with its counts folds with the same run, flag or not',
      { allowMassDeactivation: true, override: { blockedRunId: 'X', ceilings } },
      false,
      { override: { blockedRunId: 'X', ceilings: [] } },
      false,
      true,
    ],
    [
      'before the patch, an override naming no run folds with a bare flag',
      { override: { blockedRunId: '', ceilings } },
      false,
      { allowMassDeactivation: true },
      false,
      true,
    ],
    [
      'before the patch, an override without counts is no override',
      { override: { blockedRunId: 'X' } },
      false,
      {},
      false,
      true,
    ],
    [
      'before the patch, an override without counts but with the flag is a bare flag',
      { allowMassDeactivation: true, override: { blockedRunId: 'X' } },
      false,
      { allowMassDeactivation: true },
      false,
      true,
    ],
    [
      'before the patch, overrides of two runs are two kinds',
      { override: { blockedRunId: 'X', ceilings } },
      false,
      { override: { blockedRunId: 'Y', ceilings } },
      false,
      false,
    ],
    [
      'an override from before the patch folds with one naming the same run after it',
      { override: { blockedRunId: 'X', ceilings } },
      false,
      { override: { blockedRunId: 'X' } },
      true,
      true,
    ],
    [
      'a bare flag from before the patch does not fold with one after it (a plain run)',
      { allowMassDeactivation: true },
      false,
      { allowMassDeactivation: true },
      true,
      false,
    ],
    [
      'an untrimmed run id from before the patch is not the trimmed one after it',
      { override: { blockedRunId: ' X', ceilings } },
      false,
      { override: { blockedRunId: ' X' } },
      true,
      false,
    ],
    ['a bare flag folds with a plain run', { allowMassDeactivation: true }, true, {}, true, true],
    [
      'overrides of the same run fold',
      { override: { blockedRunId: ' X ' } },
      true,
      { override: { blockedRunId: 'X' } },
      true,
      true,
    ],
    [
      'overrides of two runs are two kinds',
      { override: { blockedRunId: 'X' } },
      true,
      { override: { blockedRunId: 'Y' } },
      true,
      false,
    ],
    ['a dry run is not a run', { dryRun: true }, true, {}, true, false],
  ];
  for (const [title, a, namedA, b, namedB, fold] of folds) {
    test(title, () => assert.equal(kindOf(sanitise(a, namedA)) === kindOf(sanitise(b, namedB)), fold));
  }
});
