import { EXTRA_DIFF_PREFIX, formatExtraValue, isExtraDiffKey, type ExtraValue } from '../../domain/extra-fields';
import { randomUUID } from 'node:crypto';
import type { CompanyDocument } from '../../db/companies-repository';
import type { SyncChangeDocument } from '../../db/sync-changes-repository';
import type { RunScope, RunScopeChange, SyncRunDocument } from '../../db/sync-runs-repository';
import { firedGuards } from '../../domain/guards';
import { COUNT_KEYS } from '../../domain/types';
import { REPORT_ACTIONS } from '../../operations';
import { changeSubject } from '../../operations/report-export';
import type { ReportPage } from '../data';
import { html, query, type Html } from '../html';
import type { I18n, MessageKey } from '../i18n';
import { companyTabs } from './companies';
import { layout, luccaPictogram, postButton, readOnlyNote, statusBadge, type ViewContext } from './layout';

const DATE_FIELDS = new Set(['birthDate', 'contractStart', 'contractEnd']);

export function formatFieldValue(i18n: I18n, field: string, value: unknown): string {
  if (value === null || value === undefined || value === '') return i18n.t('common.none');
  if (isExtraDiffKey(field)) return formatExtraValue(value as ExtraValue);
  if (DATE_FIELDS.has(field)) return i18n.day(value);
  if (field === 'status' && typeof value === 'string') return i18n.t(`profileStatus.${value}` as MessageKey);
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A change's reasons, each with its code and what it means. */
/** A scope a run recorded, in the page's language: ids with the names the run saw. */
function runScopeText(i18n: I18n, scope: RunScope | null): string {
  if (!scope) return i18n.t('scope.wholeTenant');
  const units = (ids: number[], names: Record<string, string> = {}) =>
    ids.map((id) => (names[String(id)] ? `${id} « ${names[String(id)]} »` : String(id))).join(', ');
  const parts: string[] = [];
  if (scope.legalEntityIds.length > 0) {
    parts.push(`${i18n.t('scope.legalEntities')} ${units(scope.legalEntityIds, scope.names?.legalEntities)}`);
  }
  if (scope.departmentIds.length > 0) {
    parts.push(`${i18n.t('scope.departments')} ${units(scope.departmentIds, scope.names?.departments)}`);
  }
  return parts.join(' · ');
}

function scopeChangeText(i18n: I18n, change: RunScopeChange): string {
  return i18n.t('run.scopeChanged', {
    from: runScopeText(i18n, change.from),
    to: runScopeText(i18n, change.to),
    out: change.deactivatedOutOfScope ?? '–',
    entered: change.enteredScope ?? '–',
  });
}

export function reasonList(i18n: I18n, reasons: SyncChangeDocument['reasons']): Html | null {
  if (reasons.length === 0) return null;
  return html`<ul class="reasons">
    ${reasons.map((r) => html`<li data-reason="${r.code}"><code>${r.code}</code> ${i18n.reason(r.code, r.message)}</li>`)}
  </ul>`;
}

/** A field's name in a report: a core field's own, an extra field by its key. */
export function fieldLabel(i18n: I18n, field: string): string {
  return isExtraDiffKey(field)
    ? i18n.t('field.extra', { key: field.slice(EXTRA_DIFF_PREFIX.length) })
    : i18n.t(`field.${field}` as MessageKey);
}

export function fieldDiff(i18n: I18n, fields: SyncChangeDocument['fields'], action: string): Html | null {
  if (!fields) return null;
  const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return null;
  return html`<table class="diff" data-testid="field-diff">
    ${entries.map(
      ([field, diff]) =>
        html`<tr data-field="${field}">
          <th>${fieldLabel(i18n, field)}</th>
          <td>
            ${
              action === 'create'
                ? null
                : html`<del data-testid="diff-from">${formatFieldValue(i18n, field, diff?.from)}</del>
                    <span class="arrow" aria-hidden="true">→</span>`
            }
            <ins data-testid="diff-to">${formatFieldValue(i18n, field, diff?.to)}</ins>
          </td>
        </tr>`,
    )}
  </table>`;
}

function changeItem(ctx: ViewContext, companyId: string, change: SyncChangeDocument): Html {
  const { i18n } = ctx;
  const subject = changeSubject(change);
  return html`<li class="change" data-testid="change" data-action="${change.action}">
    <div class="change-head">
      ${
        change.profileId
          ? html`<a href="/companies/${companyId}/profiles/${change.profileId}">${subject ?? i18n.t('run.profile')}</a>`
          : html`<span>${subject ?? i18n.t('run.lucca')}</span>`
      }
      ${
        change.luccaUserId !== null
          ? html`<span class="muted small"
              >${luccaPictogram(i18n.t('profiles.luccaIcon'))} #${change.luccaUserId}</span
            >`
          : null
      }
    </div>
    ${fieldDiff(i18n, change.fields, change.action)} ${reasonList(i18n, change.reasons)}
  </li>`;
}

export interface RunView {
  company: CompanyDocument;
  report: ReportPage;
  temporalUrl: string;
}

/** A run's phase in words; a read waiting for another company's read of its tenant says so. */
export function phaseLabel(i18n: I18n, progress: SyncRunDocument['progress']): string {
  if (progress.phase === 'reading' && progress.waiting) return i18n.t('phase.waitingTenantRead');
  return i18n.t(`phase.${progress.phase}` as MessageKey);
}

export function runProgress(i18n: I18n, run: SyncRunDocument, changesSoFar: number): Html {
  return html`<section
    class="card progress"
    data-testid="live-progress"
    data-live-run="/api/companies/${run.companyId}/runs/${run._id}"
  >
    <h2>${i18n.t('run.progress')}</h2>
    <p>
      <span data-progress="phase">${phaseLabel(i18n, run.progress)}</span> ·
      <strong data-progress="pagesRead">${run.progress.pagesRead}</strong> ${i18n.t('run.pagesRead')} ·
      <strong data-progress="usersRead">${run.progress.usersRead}</strong> ${i18n.t('run.usersRead')} ·
      <strong data-progress="changesSoFar">${changesSoFar}</strong> ${i18n.t('run.changesSoFar')}
    </p>
    <div class="bar"><div class="bar-fill"></div></div>
  </section>`;
}

export function runPage(ctx: ViewContext, v: RunView): Html {
  const { i18n } = ctx;
  const { run } = v.report;
  const tz = v.company.timezone;
  const duration = run.finishedAt ? run.finishedAt.getTime() - run.startedAt.getTime() : null;
  const base = `/companies/${v.company._id}`;
  return layout(
    ctx,
    `${v.company.name} · ${i18n.t('run.title')}`,
    html`${companyTabs(ctx, v.company, 'integration')}
      <section class="card" data-testid="run-header" data-run-status="${run.status}">
        <div class="page-head">
          <h2>${i18n.t('run.title')} · ${i18n.dateTime(run.startedAt, tz)}</h2>
          <a href="${v.temporalUrl}" target="_blank" rel="noopener noreferrer" data-testid="temporal-link"
            >${i18n.t('run.openTemporal')} ↗</a
          >
        </div>
        <dl class="facts wide">
          <dt>${i18n.t('run.status')}</dt>
          <dd>${statusBadge(i18n, run.status)}</dd>
          <dt>${i18n.t('run.mode')}</dt>
          <dd>${i18n.t(`mode.${run.mode}` as MessageKey)}</dd>
          <dt>${i18n.t('run.trigger')}</dt>
          <dd>${i18n.t(`trigger.${run.trigger}` as MessageKey)}</dd>
          <dt>${i18n.t('run.kind')}</dt>
          <dd data-testid="run-kind">
            ${i18n.t(`kind.${run.kind ?? 'full'}` as MessageKey)}${run.kind === 'one-user' ? ` (Lucca #${run.luccaUserId})` : ''}
          </dd>
          ${
            run.scopeChange
              ? html`<dt>${i18n.t('run.scopeChange')}</dt>
                  <dd data-testid="scope-change">${scopeChangeText(i18n, run.scopeChange)}</dd>`
              : null
          }
          <dt>${i18n.t('run.requestedBy')}</dt>
          <dd>${run.requestedBy ?? i18n.t('common.none')}</dd>
          <dt>${i18n.t('run.duration')}</dt>
          <dd>${i18n.duration(duration)}</dd>
        </dl>
        ${
          run.error && run.status !== 'blocked'
            ? html`<p class="flash error" role="alert">
                <strong>${i18n.t('run.error')}</strong> (${run.error.code}) ${i18n.failure(run.error.code)}
                ${run.error.message}
              </p>`
            : null
        }
      </section>
      ${run.status === 'running' ? runProgress(i18n, run, v.report.changesSoFar) : null}
      ${
        run.status === 'blocked'
          ? html`<section class="card blocked" data-testid="blocked">
              <p>${i18n.t('run.blocked', { activeProfiles: run.guard?.activeProfiles ?? 0 })}</p>
              <ul data-testid="guards">
                ${firedGuards(run.guard).map(
                  (hit) =>
                    html`<li data-guard="${hit.guard}">
                      ${i18n.t(`guard.${hit.guard}` as MessageKey, {
                        count: i18n.number(hit.count),
                        limit: i18n.number(hit.limit),
                        field: hit.field ?? '',
                      })}
                      ${
                        hit.unreviewed
                          ? html`— ${i18n.t('guard.unreviewed', { unreviewed: i18n.number(hit.unreviewed) })}`
                          : null
                      }
                    </li>`,
                )}
              </ul>
              ${
                ctx.canAct
                  ? html`${postButton(ctx, `${base}/runs/${run._id}/apply-anyway`, i18n.t('run.applyAnyway'), {
                        className: 'button danger',
                        fields: { requestKey: randomUUID() },
                        testId: 'apply-anyway',
                      })}
                      <p class="help">${i18n.t('run.applyAnywayHelp')}</p>`
                  : readOnlyNote(ctx)
              }
            </section>`
          : null
      }
      ${
        run.counts
          ? html`<section class="card">
              <h2>${i18n.t('run.counts')}</h2>
              <ul class="counts-grid" data-testid="counts">
                ${COUNT_KEYS.map(
                  (k) =>
                    html`<li data-count="${k}">
                      <strong>${i18n.number(run.counts?.[k] ?? 0)}</strong> ${i18n.t(`count.${k}` as MessageKey)}
                    </li>`,
                )}
              </ul>
            </section>`
          : null
      }
      ${
        run.status !== 'running' && v.report.countsByAction.size === 0 && run.status !== 'failed'
          ? html`<p class="empty">${i18n.t('run.noChanges')}</p>`
          : v.report.countsByAction.size > 0
            ? changesSection(ctx, v)
            : null
      }`,
  );
}

/** The run's changes in plan order, filtered by action and reason, a page at a time. */
function changesSection(ctx: ViewContext, v: RunView): Html {
  const { i18n } = ctx;
  const r = v.report;
  const base = `/companies/${v.company._id}/runs/${r.run._id}`;
  const pageLink = (skip: number) =>
    `${base}${query({ action: r.filter.action, reason: r.filter.reason, skip: skip > 0 ? skip : undefined })}`;
  const actions = REPORT_ACTIONS.filter((a) => r.countsByAction.has(a));
  const reasons = [...r.countsByReason.keys()].sort();
  const last = Math.min(r.skip + r.changes.length, r.total);
  const download = `/api/companies/${v.company._id}/runs/${r.run._id}/export`;
  return html`<section class="card" data-testid="changes">
    <div class="page-head">
      <h2>${i18n.t('run.changes')}</h2>
      <span class="row" data-testid="report-export">
        ${i18n.t('run.export')}
        <a href="${download}?format=csv" download data-testid="export-csv">CSV</a>
        <a href="${download}?format=json" download data-testid="export-json">JSON</a>
      </span>
    </div>
    <form method="get" action="${base}" class="row filters" data-testid="change-filters">
      <label
        >${i18n.t('run.filterAction')}
        <select name="action" data-testid="filter-action">
          <option value="">${i18n.t('profiles.all')}</option>
          ${actions.map(
            (a) =>
              html`<option value="${a}" ${r.filter.action === a ? 'selected' : ''}>
                ${i18n.t(`action.${a}` as MessageKey)} (${i18n.number(r.countsByAction.get(a) ?? 0)})
              </option>`,
          )}
        </select>
      </label>
      <label
        >${i18n.t('run.filterReason')}
        <select name="reason" data-testid="filter-reason">
          <option value="">${i18n.t('profiles.all')}</option>
          ${reasons.map(
            (code) =>
              html`<option value="${code}" ${r.filter.reason === code ? 'selected' : ''}>
                ${code} (${i18n.number(r.countsByReason.get(code) ?? 0)})
              </option>`,
          )}
        </select>
      </label>
      <button type="submit" class="button">${i18n.t('profiles.filter')}</button>
      <span class="muted" data-testid="changes-total" data-total="${r.total}"
        >${
          r.total === 0
            ? i18n.t('run.noMatch')
            : i18n.t('run.showing', {
                from: i18n.number(r.skip + 1),
                to: i18n.number(last),
                total: i18n.number(r.total),
              })
        }</span
      >
    </form>
    <ul class="changes">
      ${r.changes.map((c) => changeItem(ctx, v.company._id, c))}
    </ul>
    <nav class="pager" data-testid="changes-pager">
      ${
        r.skip > 0
          ? html`<a href="${pageLink(Math.max(r.skip - r.limit, 0))}" data-testid="page-previous"
              >← ${i18n.t('profiles.previous')}</a
            >`
          : null
      }
      ${
        r.skip + r.changes.length < r.total
          ? html`<a href="${pageLink(r.skip + r.limit)}" data-testid="page-next">${i18n.t('profiles.next')} →</a>`
          : null
      }
    </nav>
  </section>`;
}
