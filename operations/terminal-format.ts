import type { ExtraFieldsConfig } from '../domain/extra-fields';
import type { ExtraFieldPreview, LuccaFieldsList } from './fields';
import type { SyncReport } from './report';
import type { CompanyStatus } from './status';
import type { SyncChangeDocument } from '../db/sync-changes-repository';
import type { SyncRunDocument } from '../db/sync-runs-repository';
import { COUNT_KEYS, type SyncCounts } from '../domain/types';
import { describeScope, type ScopePreview } from './scope';

/**
 * Plain-text renderings of operation results for the terminal, as the CLI and the demo print them;
 * `--json` prints the data itself.
 */

export const RUN_STATUS_MEANING: Record<SyncRunDocument['status'], string> = {
  running: 'in progress',
  succeeded: 'finished; the profiles match Lucca (a dry run wrote nothing)',
  failed: 'stopped before writing anything; the error says why, and the next run tries again',
  blocked:
    'a guard held the plan back (the error says which: too many deactivations, blanked fields, changed emails, reactivations or overwritten names and dates), so nothing was written; review its report, then sync --apply-anyway <run-id> if the changes are real',
};

export function formatDateTime(date: Date | null | undefined): string {
  if (!date) return '—';
  return date.toISOString().replace('T', ' ').slice(0, 19) + 'Z';
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(s % 60).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function formatCounts(counts: SyncCounts | null): string {
  if (!counts) return 'no counts (the run stopped before planning)';
  return COUNT_KEYS.map((k) => `${k} ${counts[k]}`).join(' · ');
}

/** `"Jean"`, `∅` for empty: values are the person's own data, shown only to the operator. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined || value === '') return '∅';
  return typeof value === 'string' ? `"${value}"` : JSON.stringify(value);
}

/** What a run read, as an operator reads it (runs from before run kinds read in full). */
export function formatRunKind(run: SyncRunDocument): string {
  const kind = run.kind ?? 'full';
  if (kind === 'incremental') {
    return `incremental — the users Lucca modified since ${run.read?.since ?? '?'} (UTC), and today's dates for the others; nobody planned removed from Lucca`;
  }
  if (kind === 'dates') return 'dates — no Lucca read: contract dates rolled to today from the store';
  if (kind === 'one-user') return `one user — Lucca #${run.luccaUserId ?? '?'}`;
  const because =
    run.requestedKind && run.read?.fullBecause ? ` (${run.requestedKind} asked: ${run.read.fullBecause})` : '';
  return `full — every user of the company${because}`;
}

export function formatRunHeader(run: SyncRunDocument): string[] {
  const took = run.finishedAt ? ` (${formatDuration(run.finishedAt.getTime() - run.startedAt.getTime())})` : '';
  const lines = [
    `Run ${run._id} of ${run.companyId} — ${run.trigger}${run.requestedBy ? ` by ${run.requestedBy}` : ''}, ${run.mode}`,
    `Status:   ${run.status} — ${RUN_STATUS_MEANING[run.status]}`,
    `Started:  ${formatDateTime(run.startedAt)}   Finished: ${formatDateTime(run.finishedAt)}${took}`,
    `Counts:   ${formatCounts(run.counts)}`,
    `Read:     ${formatRunKind(run)}`,
  ];
  if (run.status !== 'running') lines.push(`Writes:   ${run.profileWrites} profile writes`);
  if (run.error) lines.push(`Error:    ${run.error.code} — ${run.error.message}`);
  return lines;
}

export function formatChange(change: SyncChangeDocument): string {
  const who = [
    change.luccaUserId !== null ? `Lucca #${change.luccaUserId}` : 'Lucca record without id',
    change.profileId ? `profile ${change.profileId}` : null,
  ]
    .filter(Boolean)
    .join(' → ');
  const fields = Object.entries(change.fields ?? {}).map(([field, diff]) =>
    change.action === 'create'
      ? `${field} ${formatValue(diff?.to)}`
      : `${field} ${formatValue(diff?.from)} → ${formatValue(diff?.to)}`,
  );
  const reasons = change.reasons.map((r) => r.code);
  return `  ${who}${fields.length ? `: ${fields.join(', ')}` : ''}${reasons.length ? `  [${reasons.join(', ')}]` : ''}`;
}

export function formatReport(report: SyncReport): string[] {
  const lines = formatRunHeader(report.run);
  if (report.run.changesExpiredAt) {
    lines.push(
      '',
      `Changes removed on ${formatDateTime(report.run.changesExpiredAt)}: the retention period (SYNC_CHANGES_RETENTION_DAYS) was over; the counts above are kept.`,
    );
  } else if (report.groups.length === 0) lines.push('', 'No changes.');
  for (const group of report.groups) {
    lines.push('', `${group.action} (${group.total})`);
    for (const change of group.changes) lines.push(formatChange(change));
    const hidden = group.total - group.changes.length;
    if (hidden > 0)
      lines.push(`  … and ${hidden} more ${group.action} (use --all, --action ${group.action} --all, or --json)`);
  }
  if (report.reasons.length) {
    lines.push('', 'Reasons:');
    for (const r of report.reasons) lines.push(`  ${r.code}: ${r.description}`);
  }
  return lines;
}

function formatWorkflow(c: CompanyStatus): string {
  if (!c.workflowRunning) return 'not running (starts on the next sync request)';
  if (c.worker?.serving !== false) return 'running';
  const last = c.worker.lastPollAt ? `last seen ${formatDateTime(c.worker.lastPollAt)}` : 'none seen';
  return `running — no worker is serving task queue ${c.worker.taskQueue} right now (${last}): requests wait and no run starts until one is`;
}

export function formatStatus(companies: CompanyStatus[]): string[] {
  if (companies.length === 0) return ['No company is onboarded yet. Start with `npm run cli -- onboard --help`.'];
  const lines: string[] = [];
  for (const c of companies) {
    const schedule = !c.schedule.exists
      ? c.connected
        ? 'no schedule (run onboard again)'
        : 'none (offboarded)'
      : c.schedule.paused
        ? `every ${c.every}, paused`
        : `every ${c.every}, next run ${formatDateTime(c.schedule.nextRunAt)}`;
    lines.push(
      `${c.companyId} — ${c.name}`,
      `  Lucca:    ${c.luccaBaseUrl} (key …${c.apiKeyHint ?? ' erased'})`,
      `  Schedule: ${schedule}`,
      `  Workflow: ${formatWorkflow(c)}`,
      c.lastRun
        ? `  Last run: ${c.lastRun.status} (${c.lastRun.trigger}, ${c.lastRun.kind ?? 'full'}, ${c.lastRun.mode}) ${c.lastRun._id} at ${formatDateTime(c.lastRun.startedAt)} — ${formatCounts(c.lastRun.counts)}${c.lastRun.error ? ` — ${c.lastRun.error.code}` : ''}`
        : '  Last run: none yet',
      '',
    );
  }
  return lines.slice(0, -1);
}

/** A scope preview: the tenant's units with their people (those of the proposed scope marked), then what it would do. */
export function formatScopePreview(p: ScopePreview): string {
  const lines = [`Scope preview for ${p.companyId} (a dry run: nothing was written)`];
  lines.push(`  now:      ${describeScope(p.current)}`, `  proposed: ${describeScope(p.proposed)}`, '');
  const units = (title: string, list: ScopePreview['organisation']['legalEntities'], chosen: number[] | undefined) => {
    lines.push(`${title}:`);
    for (const u of list) {
      const mark = chosen?.includes(u.id) ? '*' : ' ';
      lines.push(`  ${mark} ${String(u.id).padStart(6)}  ${(u.name ?? '(no name)').padEnd(40)} ${u.userCount} people`);
    }
  };
  units('Legal entities (* in the proposed scope)', p.organisation.legalEntities, p.proposed?.legalEntityIds);
  units('Departments (* in the proposed scope)', p.organisation.departments, p.proposed?.departmentIds);
  const c = p.profiles;
  lines.push(
    '',
    `People in the proposed scope: ${p.inScope} of ${p.organisation.userCount}.`,
    `Profiles the next run would: attach ${c.attached}, create ${c.created}, keep ${c.kept} (${c.updated} of them updated, ${c.reactivated} reactivated), ` +
      `deactivate ${c.deactivatedOutOfScope} as out of scope` +
      (c.removedFromLucca > 0 ? `, ${c.removedFromLucca} as removed from Lucca` : '') +
      (c.deactivatedOther > 0 ? `, ${c.deactivatedOther} whose contract ended` : '') +
      '.',
  );
  if (p.moved) lines.push("Lucca's data moved during the read: nobody was counted as out of scope; preview again.");
  if (p.fired.length > 0) {
    lines.push(
      `Its first run would be blocked by the guards (${p.fired.map((f) => `${f.guard} ${f.count} > ${f.limit}`).join(', ')}) until applied anyway.`,
    );
  }
  for (const o of p.overlaps) {
    lines.push(
      `Overlaps "${o.name}" (${o.companyId}: ${describeScope(o.scope)}; ${o.people ?? 0} people in both): saving it is refused without --allow-overlap.`,
    );
  }
  lines.push(
    '',
    `To save exactly this preview (refused if the tenant changed since): add --preview-token ${p.token} without --preview.`,
  );
  return lines.join('\n');
}

/** A company's extra fields in words: each Lucca field and its key, and the keys being cleared. */
export function describeExtraFields(config: ExtraFieldsConfig): string {
  const fields = config.fields.map((f) => `${f.lucca} as ${f.key} (${f.type})`);
  const text = fields.length > 0 ? fields.join(', ') : 'no extra field';
  return config.cleared.length > 0 ? `${text}; clearing ${config.cleared.join(', ')}` : text;
}

export function formatLuccaFields(list: LuccaFieldsList): string {
  const lines = [`Fields Lucca returns for ${list.companyId}'s key (from ${list.sampled} users, one request):`];
  for (const f of list.fields) {
    const read = f.readAs ? `read as lucca.extra.${f.readAs}` : 'not read';
    lines.push(`  ${f.lucca.padEnd(24)} ${f.kind.padEnd(8)} ${String(f.withValue).padStart(5)} with a value   ${read}`);
  }
  lines.push(
    'A custom field missing here is in a section the key cannot consult: grant "Consult HR files" on it in Lucca.',
  );
  return lines.join('\n');
}

export function formatExtraFieldPreview(p: ExtraFieldPreview): string {
  return [
    `Adding ${p.field.lucca} as lucca.extra.${p.field.key} (${p.field.type}) to ${p.companyId} — a dry run, nothing written:`,
    `  ${p.users} Lucca users read: ${p.withValue} with a value, ${p.empty} empty, ${p.unusable} not a ${p.field.type} (their profiles keep what they hold)`,
    `  ${p.profilesGettingValue} linked profiles would get a value (or another one) at the next run`,
    `  values: ${p.sample.length > 0 ? p.sample.join(' · ') : '(none)'}`,
  ].join('\n');
}
