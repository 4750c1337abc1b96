import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SyncChangeDocument } from '../../db/sync-changes-repository';
import type { SyncRunDocument } from '../../db/sync-runs-repository';
import type { CompanyStatus, SyncReport } from '../../operations';
import {
  formatChange,
  formatReport,
  formatRunHeader,
  formatStatus,
  formatValue,
} from '../../operations/terminal-format';

const run: SyncRunDocument = {
  _id: '20260615-101500-1a2b3c4d',
  companyId: 'acme',
  trigger: 'manual',
  requestedBy: 'alice',
  mode: 'apply',
  allowMassDeactivation: false,
  status: 'blocked',
  startedAt: new Date('2026-06-15T10:15:00Z'),
  finishedAt: new Date('2026-06-15T10:16:05Z'),
  error: { code: 'mass-deactivation', message: 'The plan would deactivate 40 of 100 active profiles' },
  counts: {
    seen: 100,
    created: 0,
    linked: 0,
    updated: 1,
    unchanged: 59,
    deactivated: 40,
    reactivated: 0,
    skipped: 0,
    conflicts: 0,
  },
  progress: { pagesRead: 1, usersRead: 100, phase: 'done' },
  guard: { deactivations: 40, limit: 10, activeProfiles: 100 },
  profileWrites: 0,
  workflowId: 'sync-run:acme:x',
  temporalRunId: 'r',
};

const change = (over: Partial<SyncChangeDocument>): SyncChangeDocument => ({
  _id: `${run._id}:000000001`,
  runId: run._id,
  companyId: 'acme',
  seq: 1,
  luccaUserId: 416,
  profileId: '65ab00000000000000000001',
  action: 'update',
  fields: null,
  target: null,
  reason: null,
  reasons: [],
  ...over,
});

describe('terminal rendering of reports', () => {
  test('the header says who ran what, the outcome in words, the duration, the counts and the error', () => {
    const text = formatRunHeader(run).join('\n');
    assert.match(text, /manual by alice, apply/);
    assert.match(text, /Status: +blocked — a guard held the plan back/);
    assert.match(text, /\(1m05s\)/);
    assert.match(text, /seen 100 · created 0 · linked 0 · updated 1 · unchanged 59 · deactivated 40/);
    assert.match(text, /Error: +mass-deactivation — The plan would deactivate 40/);
  });

  test('a change shows each field from → to and its reason codes; empty values read as ∅', () => {
    const line = formatChange(
      change({
        fields: { lastName: { from: 'Doe', to: 'DOE-Martin' }, contractEnd: { from: null, to: '2026-06-30' } },
        reasons: [{ code: 'overwritten-local-edit', message: 'x' }],
      }),
    );
    assert.equal(
      line,
      '  Lucca #416 → profile 65ab00000000000000000001: lastName "Doe" → "DOE-Martin", contractEnd ∅ → "2026-06-30"  [overwritten-local-edit]',
    );
    assert.equal(formatValue(''), '∅');
    assert.equal(formatValue(3), '3');
  });

  test('large groups are summarised with how many more there are and how to see them', () => {
    const report: SyncReport = {
      run,
      groups: [{ action: 'deactivate', total: 40, changes: [change({ action: 'deactivate' })] }],
      reasons: [{ code: 'removed-from-lucca', description: 'The Lucca user no longer appears in Lucca.' }],
      complete: false,
    };
    const text = formatReport(report).join('\n');
    assert.match(text, /^deactivate \(40\)$/m);
    assert.match(text, /… and 39 more deactivate \(use --all/);
    assert.match(text, /removed-from-lucca: The Lucca user no longer appears in Lucca\./);
  });

  test('a run whose change records went at the end of their retention says so instead of "No changes"', () => {
    const text = formatReport({
      run: { ...run, changesExpiredAt: new Date('2027-06-16T03:00:00Z') },
      groups: [],
      reasons: [],
      complete: true,
    }).join('\n');
    assert.match(text, /Changes removed on .*retention period \(SYNC_CHANGES_RETENTION_DAYS\) was over/);
    assert.doesNotMatch(text, /No changes\./);
  });
});

describe('terminal rendering of the status', () => {
  const company = (over: Partial<CompanyStatus>): CompanyStatus => ({
    companyId: 'acme',
    name: 'Acme',
    timezone: 'Europe/Paris',
    luccaBaseUrl: 'https://acme.ilucca.net',
    apiKeyHint: 'WXYZ',
    connected: true,
    every: '24h',
    paused: false,
    schedule: { exists: true, paused: false, nextRunAt: new Date('2026-12-03T06:00:00Z') },
    workflowRunning: true,
    worker: { taskQueue: 'lucca-sync', serving: true, lastPollAt: new Date('2026-12-02T16:00:00Z') },
    lastRun: null,
    ...over,
  });
  const workflowLine = (c: CompanyStatus) => formatStatus([c]).find((l) => l.includes('Workflow:'));

  test("says when no worker serves the company workflow's task queue, and when one was last seen", () => {
    const lost = workflowLine(
      company({ worker: { taskQueue: 'lucca-sync-eu', serving: false, lastPollAt: new Date('2026-12-02T15:00:00Z') } }),
    );
    assert.match(lost ?? '', /running — no worker is serving task queue lucca-sync-eu right now \(last seen .+\)/);
    assert.match(
      workflowLine(company({ worker: { taskQueue: 'q', serving: false, lastPollAt: null } })) ?? '',
      /\(none seen\)/,
    );
  });

  test('says nothing of workers while one serves the queue, or when the server would not say', () => {
    assert.equal(workflowLine(company({})), '  Workflow: running');
    assert.equal(workflowLine(company({ worker: null })), '  Workflow: running');
    assert.match(workflowLine(company({ workflowRunning: false, worker: null })) ?? '', /not running/);
  });
});
