import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AuditEntry } from '../../db/audit-log-repository';
import { auditOutcomeOf, auditToCsv, parseSince } from '../../operations/audit';
import { OperationError } from '../../operations/errors';

const entry = (over: Partial<AuditEntry> = {}): AuditEntry => ({
  seq: 7,
  at: new Date('2026-06-15T08:30:00Z'),
  companyId: 'acme',
  actor: 'olga',
  source: 'console',
  action: 'schedule-every',
  params: { every: '12h' },
  outcome: 'ok',
  code: null,
  ...over,
});

describe('audit export and filters', () => {
  test('CSV has one row per entry, parameters as name=value pairs', () => {
    assert.equal(
      auditToCsv([
        entry(),
        entry({
          seq: 6,
          action: 'sync',
          params: { dryRun: true, requestId: 'r1' },
          outcome: 'refused',
          code: 'offboarded',
        }),
      ]),
      'at,companyId,actor,source,action,params,outcome,code,seq\r\n' +
        '2026-06-15T08:30:00.000Z,acme,olga,console,schedule-every,every=12h,ok,,7\r\n' +
        '2026-06-15T08:30:00.000Z,acme,olga,console,sync,dryRun=true;requestId=r1,refused,offboarded,6\r\n',
    );
  });

  test('CSV quotes separators and defuses spreadsheet formulas in free text', () => {
    const [, row] = auditToCsv([entry({ actor: '=HYPERLINK("x")', params: { note: 'a,b' } })]).split('\r\n');
    assert.equal(row, `2026-06-15T08:30:00.000Z,acme,"'=HYPERLINK(""x"")",console,schedule-every,"note=a,b",ok,,7`);
  });

  test('--since takes a date, a date-time or a duration ago, and refuses anything else', () => {
    const now = new Date('2026-06-15T12:00:00Z');
    assert.equal(parseSince('2026-06-01', now).toISOString(), '2026-06-01T00:00:00.000Z');
    assert.equal(parseSince('2026-06-01T08:00:00+02:00', now).toISOString(), '2026-06-01T06:00:00.000Z');
    assert.equal(parseSince('24h', now).toISOString(), '2026-06-14T12:00:00.000Z');
    assert.equal(parseSince('7d', now).toISOString(), '2026-06-08T12:00:00.000Z');
    for (const bad of ['yesterday', '2026-13-45', '5y', '']) assert.throws(() => parseSince(bad, now), OperationError);
  });

  test('an outcome is a code, never an error message', () => {
    assert.deepEqual(auditOutcomeOf(new OperationError('invalid-every', 'no: alice@example.com')), {
      outcome: 'refused',
      code: 'invalid-every',
    });
    const err = new Error('duplicate key { email: "alice@example.com" }');
    err.name = 'MongoServerError';
    assert.deepEqual(auditOutcomeOf(err), { outcome: 'error', code: 'internal:MongoServerError' });
  });
});
