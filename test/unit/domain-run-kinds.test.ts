import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decideRead, luccaSince, MODIFIED_SINCE_MARGIN_MS, type AppliedRead } from '../../domain/run-kinds';

const HOUR = 3_600_000;
const at = (iso: string) => new Date(iso);
const read = (kind: AppliedRead['kind'], iso: string, connectionId: string | null = 'c1'): AppliedRead => ({
  kind,
  startedAt: at(iso),
  connectionId,
});

const base = {
  requested: 'incremental' as const,
  timeZone: 'Europe/Paris',
  connectionId: 'c1',
  fullReadEveryMs: 24 * HOUR,
};

describe('which read an incremental run makes', () => {
  test('reads since the last applied complete read, less the margin, when a full read of today exists', () => {
    const decision = decideRead({
      ...base,
      now: at('2026-12-03T14:00:00Z'),
      lastApplied: read('incremental', '2026-12-03T10:00:00Z'),
      lastFull: read('full', '2026-12-03T06:00:00Z'),
    });
    assert.deepEqual(decision, {
      kind: 'incremental',
      since: new Date(at('2026-12-03T10:00:00Z').getTime() - MODIFIED_SINCE_MARGIN_MS),
      field: 'modifiedAt',
    });
  });

  const fullCases: [string, Partial<Parameters<typeof decideRead>[0]>][] = [
    ['no complete read applied yet', { lastApplied: null, lastFull: null }],
    ['the connection changed', { connectionId: 'c2' }],
    ['the last full read is older than the interval', { fullReadEveryMs: 4 * HOUR }],
    // 23:30 UTC on the 2nd is 00:30 on the 3rd in Paris: a new local day.
    [
      'the first run of the local day',
      { lastFull: read('full', '2026-12-02T22:30:00Z'), now: at('2026-12-03T00:30:00Z') },
    ],
  ];
  for (const [why, change] of fullCases) {
    test(`reads everyone when ${why}`, () => {
      const decision = decideRead({
        ...base,
        now: at('2026-12-03T14:00:00Z'),
        lastApplied: read('incremental', '2026-12-03T10:00:00Z'),
        lastFull: read('full', '2026-12-03T06:00:00Z'),
        ...change,
      });
      assert.equal(decision.kind, 'full');
    });
  }

  test('other kinds read as asked; a tenant that said modifiedOn is asked under that name', () => {
    const lastFull = read('full', '2026-12-03T06:00:00Z');
    assert.deepEqual(
      decideRead({ ...base, requested: 'dates', now: at('2026-12-03T14:00:00Z'), lastApplied: null, lastFull: null }),
      {
        kind: 'dates',
      },
    );
    const decision = decideRead({
      ...base,
      now: at('2026-12-03T14:00:00Z'),
      lastApplied: { ...lastFull, modifiedField: 'modifiedOn' },
      lastFull,
    });
    assert.equal(decision.kind === 'incremental' && decision.field, 'modifiedOn');
  });

  test("the cursor is sent as UTC's wall clock, to the second", () => {
    assert.equal(luccaSince(at('2026-12-03T09:05:07.891Z')), '2026-12-03T09:05:07');
  });
});
