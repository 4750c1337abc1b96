import { randomUUID } from 'node:crypto';
import type { AuditEntry } from '../../db/audit-log-repository';
import type { CompanyDocument } from '../../db/companies-repository';
import type { SyncRunDocument } from '../../db/sync-runs-repository';
import type { CompanyStatus } from '../../operations';
import { html, type Html } from '../html';
import { auditCard } from './audit';
import { companyTabs, connectionForm, EVERY_CHOICES, everyLabel, runRow, type ConnectionFormState } from './companies';
import { csrfField, layout, postButton, readOnlyNote, type ViewContext } from './layout';

export interface IntegrationView {
  company: CompanyDocument;
  status: CompanyStatus;
  runs: SyncRunDocument[];
  /** The latest audit entries. */
  audit: AuditEntry[];
  form: ConnectionFormState;
  /** A sync was just requested: the history refreshes itself until the run shows up. */
  pending: boolean;
  temporalRunUrl(run: SyncRunDocument): string;
}

export function integrationPage(ctx: ViewContext, v: IntegrationView): Html {
  const { i18n } = ctx;
  const { company, status } = v;
  const base = `/companies/${company._id}`;
  const tz = company.timezone;
  const running = v.runs.some((r) => r.status === 'running');
  return layout(
    ctx,
    `${company.name} · ${i18n.t('integration.title')}`,
    html`${companyTabs(ctx, company, 'integration')}
      <div class="grid">
        <section class="card" data-testid="connection">
          <h2>${i18n.t('integration.connection')}</h2>
          <dl class="facts">
            <dt>${i18n.t('integration.status')}</dt>
            <dd data-testid="connection-status">
              ${status.connected ? i18n.t('companies.connected') : i18n.t('companies.notConnected')}
            </dd>
            ${
              status.connected
                ? html`<dt>${i18n.t('integration.connectedAt')}</dt>
                    <dd>${i18n.dateTime(company.lucca.connectedAt, tz)}</dd>`
                : null
            }
            <dt>${i18n.t('integration.timezone')}</dt>
            <dd>${tz}</dd>
            <dt>${i18n.t('integration.scope')}</dt>
            <dd><a href="${base}/scope" data-testid="scope-link">${i18n.t('integration.scopeEdit')}</a></dd>
            <dt>${i18n.t('integration.alerts')}</dt>
            <dd><a href="${base}/alerts" data-testid="alerts-link">${i18n.t('integration.alertsEdit')}</a></dd>
            <dt>${i18n.t('integration.extraFields')}</dt>
            <dd><a href="${base}/fields" data-testid="fields-link">${i18n.t('integration.extraFieldsEdit')}</a></dd>
          </dl>
          ${connectionForm(ctx, {
            action: `${base}/integration`,
            testAction: `${base}/integration/test`,
            state: v.form,
            company,
          })}
        </section>
        <div class="stack">
          <section class="card" data-testid="actions">
            <h2>${i18n.t('integration.actions')}</h2>
            ${
              ctx.canAct
                ? html`<div class="actions">
                    ${postButton(ctx, `${base}/sync`, i18n.t('integration.syncNow'), {
                      className: 'button primary',
                      // Each form its key: sent twice (a double click, a resent page), it is one request.
                      fields: { requestKey: randomUUID() },
                      testId: 'sync-now',
                    })}
                    ${postButton(ctx, `${base}/sync`, i18n.t('integration.preview'), {
                      fields: { dryRun: 'true', requestKey: randomUUID() },
                      testId: 'preview',
                    })}
                  </div>`
                : readOnlyNote(ctx)
            }
            ${
              status.worker?.serving === false
                ? html`<p class="flash error" data-testid="no-worker">
                    ${i18n.t('integration.noWorker', { taskQueue: status.worker.taskQueue })}
                  </p>`
                : null
            }
          </section>
          <section class="card" data-testid="schedule">
            <h2>${i18n.t('integration.schedule')}</h2>
            <dl class="facts">
              <dt>${i18n.t('integration.status')}</dt>
              <dd>${status.paused ? i18n.t('integration.schedulePaused') : i18n.t('integration.scheduleActive')}</dd>
              <dt>${i18n.t('integration.nextRun')}</dt>
              <dd>${i18n.dateTime(status.schedule.nextRunAt, tz)}</dd>
            </dl>
            ${
              ctx.canAct
                ? html`<form method="post" action="${base}/schedule" class="row">
                      ${csrfField(ctx.csrf)}
                      <label
                        >${i18n.t('integration.every')}
                        <select name="every" data-testid="every">
                          ${EVERY_CHOICES.map(
                            (e) =>
                              html`<option value="${e}" ${e === company.sync.every ? 'selected' : ''}>
                                ${everyLabel(i18n, e)}
                              </option>`,
                          )}
                        </select>
                      </label>
                      <button type="submit" class="button">${i18n.t('integration.saveEvery')}</button>
                    </form>
                    <form method="post" action="${base}/schedule" class="row">
                      ${csrfField(ctx.csrf)}
                      <label
                        >${i18n.t('integration.fullReadEvery')}
                        <select name="fullReadEvery" data-testid="full-read-every">
                          ${EVERY_CHOICES.map(
                            (e) =>
                              html`<option value="${e}" ${e === status.fullReadEvery ? 'selected' : ''}>
                                ${everyLabel(i18n, e)}
                              </option>`,
                          )}
                        </select>
                      </label>
                      <button type="submit" class="button" data-testid="save-full-read-every">
                        ${i18n.t('integration.saveFullReadEvery')}
                      </button>
                    </form>
                    <p class="muted small">${i18n.t('integration.fullReadWhat')}</p>
                    ${
                      status.paused
                        ? postButton(ctx, `${base}/schedule`, i18n.t('integration.resume'), {
                            fields: { paused: 'false' },
                            testId: 'resume',
                          })
                        : postButton(ctx, `${base}/schedule`, i18n.t('integration.pause'), {
                            fields: { paused: 'true' },
                            testId: 'pause',
                          })
                    }`
                : html`<dl class="facts">
                    <dt>${i18n.t('integration.every')}</dt>
                    <dd data-testid="every-read-only">${everyLabel(i18n, company.sync.every)}</dd>
                    <dt>${i18n.t('integration.fullReadEvery')}</dt>
                    <dd data-testid="full-read-every-read-only">${everyLabel(i18n, status.fullReadEvery)}</dd>
                  </dl>`
            }
          </section>
        </div>
      </div>
      <section
        class="card"
        data-testid="run-history"
        data-live-section="run-history"
        data-live="${running || v.pending ? 'on' : 'off'}"
      >
        <h2>${i18n.t('integration.history')}</h2>
        <div hidden data-testid="run-summary" data-runs="${v.runs.map((r) => `${r._id}=${r.status}`).join(' ')}"></div>
        ${
          v.runs.length === 0
            ? html`<p class="empty">${i18n.t('integration.noRuns')}</p>`
            : html`<table class="table">
                <thead>
                  <tr>
                    <th>${i18n.t('run.startedAt')}</th>
                    <th>${i18n.t('run.trigger')}</th>
                    <th>${i18n.t('run.requestedBy')}</th>
                    <th>${i18n.t('run.status')}</th>
                    <th>${i18n.t('run.counts')}</th>
                    <th>${i18n.t('run.duration')}</th>
                    <th></th>
                  </tr>
                </thead>
                <tbody>
                  ${v.runs.map((r) => runRow(ctx, company._id, tz, r, v.temporalRunUrl(r)))}
                </tbody>
              </table>`
        }
      </section>
      ${auditCard(i18n, company, v.audit)}`,
  );
}
