import type { CompanyDocument } from '../../db/companies-repository';
import type { AlertTargetsView } from '../../operations/alerts';
import { html, type Html } from '../html';
import { companyTabs } from './companies';
import { csrfField, layout, postButton, readOnlyNote, type ViewContext } from './layout';

export interface AlertsView {
  company: CompanyDocument;
  targets: AlertTargetsView;
  /** A webhook just added: its signing secret, shown this once. */
  newSecret: { id: string; secret: string } | null;
  /** Why the last action was refused. */
  error: string | null;
}

/** A company's alert targets (webhooks, email addresses), their latest deliveries, a test message. */
export function alertsPage(ctx: ViewContext, v: AlertsView): Html {
  const { i18n } = ctx;
  const base = `/companies/${v.company._id}/alerts`;
  const tz = v.company.timezone;
  const t = v.targets;
  const remove = (id: string) =>
    ctx.canAct
      ? postButton(ctx, `${base}/remove`, i18n.t('alerts.remove'), { fields: { targetId: id }, testId: `remove-${id}` })
      : null;
  return layout(
    ctx,
    `${v.company.name} · ${i18n.t('alerts.title')}`,
    html`${companyTabs(ctx, v.company, 'integration')}
      <div class="grid">
        <section class="card" data-testid="alert-targets">
          <h2>${i18n.t('alerts.title')}</h2>
          <p class="help">${i18n.t('alerts.what')}</p>
          ${v.error ? html`<p class="flash error" data-testid="alerts-error">${v.error}</p>` : null}
          ${
            v.newSecret
              ? html`<div class="flash ok" data-testid="webhook-secret">
                  <p>${i18n.t('alerts.secretOnce', { id: v.newSecret.id })}</p>
                  <code>${v.newSecret.secret}</code>
                </div>`
              : null
          }
          <h3>${i18n.t('alerts.webhooks')}</h3>
          <ul class="plain" data-testid="webhooks">
            ${t.webhooks.map(
              (w) => html`<li><code>${w.url}</code> <span class="muted">${w.id}</span> ${remove(w.id)}</li>`,
            )}
            ${t.webhooks.length === 0 ? html`<li class="muted">${i18n.t('alerts.none')}</li>` : null}
          </ul>
          <h3>${i18n.t('alerts.emails')}</h3>
          <ul class="plain" data-testid="emails">
            ${t.emails.map((e) => html`<li>${e.address} <span class="muted">${e.id}</span> ${remove(e.id)}</li>`)}
            ${t.emails.length === 0 ? html`<li class="muted">${i18n.t('alerts.none')}</li>` : null}
          </ul>
          ${t.smtpConfigured ? null : html`<p class="help">${i18n.t('alerts.noSmtp')}</p>`}
          ${
            ctx.canAct
              ? html`<form method="post" action="${base}/webhooks" class="inline">
                    ${csrfField(ctx.csrf)}
                    <label
                      >${i18n.t('alerts.addWebhook')}
                      <input type="url" name="url" required placeholder="https://hooks.example.com/lucca-sync"
                    /></label>
                    <button type="submit" class="button" data-testid="add-webhook">${i18n.t('alerts.add')}</button>
                  </form>
                  <form method="post" action="${base}/emails" class="inline">
                    ${csrfField(ctx.csrf)}
                    <label
                      >${i18n.t('alerts.addEmail')}
                      <input type="email" name="address" required placeholder="it-admin@company.example"
                    /></label>
                    <button type="submit" class="button" data-testid="add-email">${i18n.t('alerts.add')}</button>
                  </form>
                  ${postButton(ctx, `${base}/test`, i18n.t('alerts.test'), { className: 'primary', testId: 'send-test' })}`
              : readOnlyNote(ctx)
          }
        </section>
        <section class="card" data-testid="alert-deliveries">
          <h2>${i18n.t('alerts.deliveries')}</h2>
          <table>
            <thead>
              <tr>
                <th>${i18n.t('alerts.when')}</th>
                <th>${i18n.t('alerts.event')}</th>
                <th>${i18n.t('alerts.target')}</th>
                <th>${i18n.t('alerts.status')}</th>
                <th>${i18n.t('alerts.attempts')}</th>
              </tr>
            </thead>
            <tbody>
              ${t.deliveries.map(
                (d) =>
                  html`<tr data-testid="delivery">
                    <td>${i18n.dateTime(d.createdAt, tz)}</td>
                    <td>
                      ${d.runId ? html`<a href="/companies/${v.company._id}/runs/${d.runId}">${d.event}</a>` : d.event}
                    </td>
                    <td>${d.kind} <span class="muted">${d.targetId}</span></td>
                    <td>
                      ${d.status}${d.lastResponse ? ` (${d.lastResponse})` : ''}${
                        d.lastError && d.status !== 'delivered'
                          ? html` <span class="muted">${d.lastError}</span>`
                          : null
                      }
                    </td>
                    <td>${d.attempts}</td>
                  </tr>`,
              )}
              ${
                t.deliveries.length === 0
                  ? html`<tr>
                      <td colspan="5" class="muted">${i18n.t('alerts.noDeliveries')}</td>
                    </tr>`
                  : null
              }
            </tbody>
          </table>
        </section>
      </div>`,
  );
}
