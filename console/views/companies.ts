import type { CompanyDocument } from '../../db/companies-repository';
import type { SyncRunDocument } from '../../db/sync-runs-repository';
import { DEFAULT_EVERY, DEFAULT_TIMEZONE, type CompanyStatus } from '../../operations';
import type { LuccaOrganisation, LuccaOrgUnitCount } from '../../operations/scope';
import type { ConnectionCheck } from '../data';
import { html, type Html } from '../html';
import type { I18n, MessageKey } from '../i18n';
import { csrfField, layout, luccaPictogram, statusBadge, type ViewContext } from './layout';

export const EVERY_CHOICES = ['24h', '12h', '8h', '6h', '4h'] as const;

export function companiesPage(ctx: ViewContext, companies: CompanyStatus[]): Html {
  const { i18n } = ctx;
  return layout(
    ctx,
    i18n.t('companies.title'),
    html`<div class="page-head">
        <h1>${i18n.t('companies.title')}</h1>
        ${ctx.canAct ? html`<a class="button primary" href="/companies/new">${i18n.t('companies.connect')}</a>` : null}
      </div>
      ${
        companies.length === 0
          ? html`<p class="empty">${i18n.t('companies.empty')}</p>`
          : html`<table class="table" data-testid="companies">
              <thead>
                <tr>
                  <th>${i18n.t('companies.name')}</th>
                  <th>${i18n.t('companies.lucca')}</th>
                  <th>${i18n.t('companies.every')}</th>
                  <th>${i18n.t('companies.lastRun')}</th>
                  <th>${i18n.t('companies.nextRun')}</th>
                </tr>
              </thead>
              <tbody>
                ${companies.map(
                  (c) =>
                    html`<tr data-company="${c.companyId}">
                      <td>
                        <a href="/companies/${c.companyId}/integration">${c.name}</a>
                        <div class="muted small">${c.companyId}</div>
                      </td>
                      <td>
                        ${
                          c.connected
                            ? html`${luccaPictogram(i18n.t('profiles.luccaIcon'))} ${i18n.t('companies.connected')}`
                            : html`<span class="muted">${i18n.t('companies.notConnected')}</span>`
                        }
                      </td>
                      <td>
                        ${everyLabel(i18n, c.every)}
                        ${c.paused ? html`<span class="badge paused">${i18n.t('companies.paused')}</span>` : null}
                      </td>
                      <td>
                        ${
                          c.lastRun
                            ? html`${statusBadge(i18n, c.lastRun.status)}
                                <a href="/companies/${c.companyId}/runs/${c.lastRun._id}"
                                  >${i18n.dateTime(c.lastRun.startedAt, c.timezone)}</a
                                >`
                            : i18n.t('common.none')
                        }
                      </td>
                      <td>${i18n.dateTime(c.schedule.nextRunAt, c.timezone)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }`,
  );
}

export function everyLabel(i18n: I18n, every: string): string {
  return (EVERY_CHOICES as readonly string[]).includes(every) ? i18n.t(`every.${every}` as MessageKey) : every;
}

export function companyTabs(
  ctx: ViewContext,
  company: { _id: string; name: string },
  active: 'integration' | 'profiles',
) {
  const { i18n } = ctx;
  return html`<div class="page-head">
      <div>
        <div class="crumbs"><a href="/companies">${i18n.t('nav.companies')}</a> ›</div>
        <h1 data-testid="company-name">${company.name}</h1>
      </div>
    </div>
    <nav class="tabs">
      <a href="/companies/${company._id}/integration" class="${active === 'integration' ? 'active' : ''}"
        >${luccaPictogram(i18n.t('profiles.luccaIcon'))} ${i18n.t('tab.integration')}</a
      >
      <a href="/companies/${company._id}/profiles" class="${active === 'profiles' ? 'active' : ''}"
        >${i18n.t('tab.profiles')}</a
      >
    </nav>`;
}

export interface ConnectionFormState {
  luccaUrl: string;
  check?: ConnectionCheck | null;
  error?: ConnectionCheck | null;
  /** New-company fields. */
  companyId?: string;
  name?: string;
  timezone?: string;
  every?: string;
  /** The tenant's legal entities and departments, once asked for, to choose the scope from. */
  organisation?: LuccaOrganisation | null;
  /** The scope ticked so far (kept when the page comes back refused). */
  scope?: { legalEntityIds: number[]; departmentIds: number[] };
}

/**
 * The new company's scope: the tenant's units to tick (read with the typed key), or the ids ticked
 * so far as hidden fields when they are not shown.
 */
function scopeChoices(ctx: ViewContext, state: ConnectionFormState): Html {
  const { i18n } = ctx;
  const chosen = state.scope ?? { legalEntityIds: [], departmentIds: [] };
  const org = state.organisation;
  const units = (kind: 'le' | 'dep', list: LuccaOrgUnitCount[], ids: number[]) =>
    html`<ul class="plain" data-testid="connect-${kind}">
      ${list.map(
        (u) =>
          html`<li>
            <label
              ><input type="checkbox" name="${kind}-${u.id}" value="1" ${ids.includes(u.id) ? 'checked' : ''} />
              ${u.name ?? `#${u.id}`}
              <span class="muted">(${u.id}) · ${i18n.t('scope.people', { count: u.userCount })}</span></label
            >
          </li>`,
      )}
    </ul>`;
  return html`<div data-scope-choices>
    ${
      org
        ? html`<h3>${i18n.t('scope.legalEntities')}</h3>
            ${units('le', org.legalEntities, chosen.legalEntityIds)}
            <h3>${i18n.t('scope.departments')}</h3>
            ${units('dep', org.departments, chosen.departmentIds)}`
        : html`<input type="hidden" name="legalEntityIds" value="${chosen.legalEntityIds.join(',')}" />
            <input type="hidden" name="departmentIds" value="${chosen.departmentIds.join(',')}" />
            ${
              chosen.legalEntityIds.length + chosen.departmentIds.length > 0
                ? html`<p data-testid="connect-scope-chosen">
                    ${chosen.legalEntityIds.length ? `${i18n.t('scope.legalEntities')} ${chosen.legalEntityIds.join(', ')}` : ''}
                    ${chosen.departmentIds.length ? `${i18n.t('scope.departments')} ${chosen.departmentIds.join(', ')}` : ''}
                  </p>`
                : null
            }`
    }
  </div>`;
}

function connectionResult(i18n: I18n, check: ConnectionCheck | null | undefined, kind: 'test' | 'save'): Html | null {
  if (!check) return null;
  const ok = check.outcome === 'ok';
  return html`<div
    class="flash ${ok ? 'ok' : 'error'}"
    role="${ok ? 'status' : 'alert'}"
    data-testid="connection-result"
    data-outcome="${check.outcome}"
    data-kind="${kind}"
  >
    <strong>${i18n.t(`test.${check.outcome}` as MessageKey)}</strong>
    ${check.detail && !ok ? html`<div class="small">${check.detail}</div>` : null}
  </div>`;
}

export function connectionForm(
  ctx: ViewContext,
  opts: { action: string; testAction: string; state: ConnectionFormState; company: CompanyDocument | null },
): Html {
  const { i18n } = ctx;
  const { state, company } = opts;
  const hint = company?.lucca.apiKey ? company.lucca.apiKeyHint : null;
  return html`<form
    method="post"
    action="${opts.action}"
    class="stack"
    data-testid="connection-form"
    data-connection-form
  >
    ${csrfField(ctx.csrf)}
    <fieldset class="plain" ${ctx.canAct ? '' : 'disabled'}>
      ${
        company === null
          ? html`<label
                >${i18n.t('integration.companyName')}
                <input name="name" required maxlength="200" value="${state.name ?? ''}" />
              </label>
              <label
                >${i18n.t('integration.companyId')}
                <input name="companyId" required pattern="[a-z0-9][a-z0-9\\-]{1,62}" value="${state.companyId ?? ''}" />
                <span class="help">${i18n.t('integration.companyIdHelp')}</span>
              </label>
              <label
                >${i18n.t('integration.timezone')}
                <input name="timezone" required value="${state.timezone ?? DEFAULT_TIMEZONE}" />
              </label>
              <label
                >${i18n.t('integration.every')}
                <select name="every">
                  ${EVERY_CHOICES.map(
                    (e) =>
                      html`<option value="${e}" ${e === (state.every ?? DEFAULT_EVERY) ? 'selected' : ''}>
                        ${everyLabel(i18n, e)}
                      </option>`,
                  )}
                </select>
              </label>`
          : null
      }
      <label
        >${i18n.t('integration.url')}
        <input
          name="luccaUrl"
          required
          value="${state.luccaUrl}"
          placeholder="https://acme.ilucca.net"
          autocomplete="off"
        />
        <span class="help">${i18n.t('integration.urlHelp')}</span>
      </label>
      <label
        >${i18n.t('integration.apiKey')}
        <input
          name="apiKey"
          type="password"
          required
          autocomplete="off"
          spellcheck="false"
          placeholder="${hint ? `•••• ${hint}` : ''}"
        />
        <span class="help"
          >${hint ? html`${i18n.t('integration.apiKeyStored')} <code data-testid="key-hint">${hint}</code>. ${i18n.t('integration.apiKeyReplace')}. ` : null}${i18n.t(
            'integration.apiKeyHelp',
          )}</span
        >
      </label>
      ${
        company === null
          ? html`<fieldset data-testid="connect-scope">
              <legend>${i18n.t('scope.connectTitle')}</legend>
              <p class="help">${i18n.t('scope.connectHelp')}</p>
              ${scopeChoices(ctx, state)}
              <button
                type="submit"
                class="button"
                formaction="/companies/new/organisation"
                formnovalidate
                data-testid="connect-scope-load"
                data-load-scope
              >
                ${i18n.t('scope.connectLoad')}
              </button>
            </fieldset>`
          : null
      }
      <div data-connection-result>
        ${connectionResult(i18n, state.check, 'test')}${connectionResult(i18n, state.error, 'save')}
      </div>
      <div class="actions">
        <button
          type="submit"
          class="button"
          formaction="${opts.testAction}"
          formnovalidate
          data-testid="test-connection"
          data-test-connection
        >
          ${i18n.t('integration.test')}
        </button>
        <button type="submit" class="button primary" data-testid="save-connection">
          ${i18n.t('integration.save')}
        </button>
      </div>
    </fieldset>
  </form>`;
}

export function newCompanyPage(ctx: ViewContext, state: ConnectionFormState): Html {
  const { i18n } = ctx;
  return layout(
    ctx,
    i18n.t('integration.new'),
    html`<div class="crumbs"><a href="/companies">${i18n.t('nav.companies')}</a> ›</div>
      <h1>${luccaPictogram(i18n.t('profiles.luccaIcon'))} ${i18n.t('integration.new')}</h1>
      <section class="card">
        ${connectionForm(ctx, {
          action: '/companies/new',
          testAction: '/companies/new/test',
          state,
          company: null,
        })}
      </section>`,
  );
}

export function runRow(
  ctx: ViewContext,
  companyId: string,
  timezone: string,
  run: SyncRunDocument,
  temporalUrl: string,
) {
  const { i18n } = ctx;
  const duration = run.finishedAt ? run.finishedAt.getTime() - run.startedAt.getTime() : null;
  return html`<tr data-run="${run._id}" data-status="${run.status}">
    <td><a href="/companies/${companyId}/runs/${run._id}">${i18n.dateTime(run.startedAt, timezone)}</a></td>
    <td>
      ${i18n.t(`trigger.${run.trigger}` as MessageKey)}
      ${run.mode === 'dry-run' ? html`<span class="badge">${i18n.t('mode.dry-run')}</span>` : null}
    </td>
    <td>${run.requestedBy ?? i18n.t('common.none')}</td>
    <td>${statusBadge(i18n, run.status)}</td>
    <td class="counts">${countsInline(i18n, run)}</td>
    <td>${i18n.duration(duration)}</td>
    <td><a href="${temporalUrl}" target="_blank" rel="noopener noreferrer">${i18n.t('integration.temporal')} ↗</a></td>
  </tr>`;
}

export function countsInline(i18n: I18n, run: SyncRunDocument): Html {
  if (!run.counts) {
    return run.status === 'running'
      ? html`<span class="muted" data-testid="run-progress"
          >${i18n.t(`phase.${run.progress.phase}` as MessageKey)}… ${i18n.number(run.progress.pagesRead)}
          ${i18n.t('run.pagesRead')}, ${i18n.number(run.progress.usersRead)} ${i18n.t('run.usersRead')}</span
        >`
      : html`${i18n.t('common.none')}`;
  }
  const c = run.counts;
  const parts: [keyof typeof c, number][] = (
    ['created', 'linked', 'updated', 'deactivated', 'reactivated', 'skipped', 'conflicts'] as const
  )
    .map((k): [keyof typeof c, number] => [k, c[k]])
    .filter(([, n]) => n > 0);
  return html`<span data-testid="run-counts"
    >${i18n.number(c.seen)}
    ${i18n.t('count.seen')}${parts.map(
      ([k, n]) => html`, <span data-count="${k}">${i18n.number(n)} ${i18n.t(`count.${k}` as MessageKey)}</span>`,
    )}</span
  >`;
}
