import type { AuditEntry } from '../../db/audit-log-repository';
import type { CompanyDocument } from '../../db/companies-repository';
import { html, type Html } from '../html';
import type { I18n, MessageKey } from '../i18n';
import { companyTabs } from './companies';
import { layout, type ViewContext } from './layout';

const OUTCOME_CLASS = { ok: 'status-succeeded', refused: 'status-blocked', error: 'status-failed' } as const;

const auditAction = (i18n: I18n, action: string) => i18n.t(`audit.action.${action}` as MessageKey);

function auditRow(i18n: I18n, tz: string, e: AuditEntry): Html {
  const params = Object.entries(e.params);
  return html`<tr data-testid="audit-entry" data-action="${e.action}" data-outcome="${e.outcome}" data-seq="${e.seq}">
    <td>${i18n.dateTime(e.at, tz)}</td>
    <td data-testid="audit-actor">${e.actor} <span class="muted small">${e.source}</span></td>
    <td>${auditAction(i18n, e.action)}</td>
    <td class="small">${params.length ? params.map(([k, v]) => html`<div>${k}: ${String(v)}</div>`) : ''}</td>
    <td>
      <span class="badge ${OUTCOME_CLASS[e.outcome]}">${i18n.t(`audit.outcome.${e.outcome}`)}</span>
      ${e.code ? html`<div class="muted small">${e.code}</div>` : null}
    </td>
  </tr>`;
}

/** The entries as a table, newest first (the integration tab's latest ones, or a page of them all). */
export function auditTable(i18n: I18n, tz: string, entries: readonly AuditEntry[]): Html {
  if (entries.length === 0) return html`<p class="empty">${i18n.t('audit.empty')}</p>`;
  return html`<table class="table">
    <thead>
      <tr>
        <th>${i18n.t('audit.at')}</th>
        <th>${i18n.t('audit.actor')}</th>
        <th>${i18n.t('audit.action')}</th>
        <th>${i18n.t('audit.params')}</th>
        <th>${i18n.t('audit.outcome')}</th>
      </tr>
    </thead>
    <tbody>
      ${entries.map((e) => auditRow(i18n, tz, e))}
    </tbody>
  </table>`;
}

export function auditDownloads(i18n: I18n, companyId: string): Html {
  const base = `/companies/${companyId}/audit/export`;
  return html`<span class="small">
    ${i18n.t('audit.download')}
    <a href="${base}?format=csv" data-testid="audit-csv" download>CSV</a> ·
    <a href="${base}?format=json" data-testid="audit-json" download>JSON</a>
  </span>`;
}

/** The integration tab's card: the latest entries, a link to them all and the downloads. */
export function auditCard(i18n: I18n, company: CompanyDocument, entries: readonly AuditEntry[]): Html {
  return html`<section class="card" data-testid="audit-log">
    <h2>${i18n.t('audit.title')}</h2>
    ${auditTable(i18n, company.timezone, entries)}
    <p>
      <a href="/companies/${company._id}/audit" data-testid="audit-all">${i18n.t('audit.all')}</a>
      · ${auditDownloads(i18n, company._id)}
    </p>
  </section>`;
}

/** Every entry of a company, a page at a time (newest first; "older" goes on from the last seq shown). */
export function auditPage(
  ctx: ViewContext,
  v: { company: CompanyDocument; entries: readonly AuditEntry[]; olderThan: number | null },
): Html {
  const { i18n } = ctx;
  const { company } = v;
  return layout(
    ctx,
    `${company.name} · ${i18n.t('audit.title')}`,
    html`${companyTabs(ctx, company, 'integration')}
      <section class="card" data-testid="audit-log">
        <h2>${i18n.t('audit.title')}</h2>
        <p>${auditDownloads(i18n, company._id)}</p>
        ${auditTable(i18n, company.timezone, v.entries)}
        ${
          v.olderThan !== null
            ? html`<p>
                <a href="/companies/${company._id}/audit?before=${v.olderThan}" data-testid="audit-older"
                  >${i18n.t('audit.older')}</a
                >
              </p>`
            : null
        }
      </section>`,
  );
}
