import type { CompanyDocument } from '../../db/companies-repository';
import { EXTRA_FIELD_TYPES, STANDARD_EXTRA_FIELDS, type ExtraFieldsConfig } from '../../domain/extra-fields';
import type { ExtraFieldPreview, LuccaFieldsList } from '../../operations/fields';
import { html, type Html } from '../html';
import { companyTabs } from './companies';
import { csrfField, layout, postButton, readOnlyNote, type ViewContext } from './layout';

export interface FieldsView {
  company: CompanyDocument;
  current: ExtraFieldsConfig;
  /** The fields Lucca returns for this key, once the operator asked for them (one Lucca read). */
  list: LuccaFieldsList | null;
  /** A dry run of adding one field. Its sample is personal data: shown on this page, never logged. */
  preview: ExtraFieldPreview | null;
  /** Why the last action was refused (a run in flight, a hidden field, a bad key, Lucca unreachable). */
  error: string | null;
}

const typeOptions = (chosen: string) =>
  EXTRA_FIELD_TYPES.map((t) => html`<option value="${t}" ${t === chosen ? 'selected' : ''}>${t}</option>`);

/**
 * A company's extra Lucca fields: those read now (remove, keeping or clearing values), the fields
 * Lucca returns for its key, a dry run of adding one, then save.
 */
export function fieldsPage(ctx: ViewContext, v: FieldsView): Html {
  const { i18n } = ctx;
  const base = `/companies/${v.company._id}/fields`;
  const p = v.preview;
  /** The form that previews adding a field: from the list (name given) or typed by the operator. */
  const previewForm = (lucca: string | null, testId: string) => {
    const standard = lucca && Object.hasOwn(STANDARD_EXTRA_FIELDS, lucca) ? STANDARD_EXTRA_FIELDS[lucca] : undefined;
    return html`<form method="post" action="${base}/preview" class="inline" data-testid="${testId}">
      ${csrfField(ctx.csrf)}
      ${
        lucca
          ? html`<input type="hidden" name="lucca" value="${lucca}" />`
          : html`<label
              >${i18n.t('fields.lucca')} <input type="text" name="lucca" required placeholder="e_seniority"
            /></label>`
      }
      <label
        >${i18n.t('fields.key')} <input type="text" name="key" placeholder="${i18n.t('fields.keyDefault')}"
      /></label>
      <label
        >${i18n.t('fields.type')}
        <select name="type">
          ${typeOptions(standard?.type ?? 'text')}
        </select></label
      >
      <button type="submit" class="button">${i18n.t('fields.preview')}</button>
    </form>`;
  };
  return layout(
    ctx,
    `${v.company.name} · ${i18n.t('fields.title')}`,
    html`${companyTabs(ctx, v.company, 'integration')}
      <section class="card" data-testid="fields">
        <h2>${i18n.t('fields.title')}</h2>
        <p class="help">${i18n.t('fields.what')}</p>
        ${v.error ? html`<p class="flash error" data-testid="fields-error">${v.error}</p>` : null}
        <table data-testid="fields-current">
          <thead>
            <tr>
              <th>${i18n.t('fields.lucca')}</th>
              <th>${i18n.t('fields.key')}</th>
              <th>${i18n.t('fields.type')}</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${v.current.fields.map(
              (f) =>
                html`<tr data-field="${f.key}">
                  <td><code>${f.lucca}</code></td>
                  <td><code>lucca.extra.${f.key}</code></td>
                  <td>${f.type}</td>
                  <td>
                    ${
                      ctx.canAct
                        ? html`${postButton(ctx, `${base}/remove`, i18n.t('fields.removeKeep'), {
                            fields: { field: f.key, values: 'keep' },
                            testId: `remove-keep-${f.key}`,
                          })}
                          ${postButton(ctx, `${base}/remove`, i18n.t('fields.removeClear'), {
                            fields: { field: f.key, values: 'clear' },
                            testId: `remove-clear-${f.key}`,
                          })}`
                        : null
                    }
                  </td>
                </tr>`,
            )}
            ${
              v.current.fields.length === 0
                ? html`<tr>
                    <td colspan="4" class="muted">${i18n.t('fields.none')}</td>
                  </tr>`
                : null
            }
          </tbody>
        </table>
        ${
          v.current.cleared.length > 0
            ? html`<p data-testid="fields-cleared">
                ${i18n.t('fields.clearing')} ${v.current.cleared.map((k) => html`<code>lucca.extra.${k}</code> `)}
              </p>`
            : null
        }
        ${
          ctx.canAct
            ? html`<p class="help">${i18n.t('fields.removeHelp')}</p>
                ${postButton(ctx, `${base}/list`, i18n.t('fields.load'), { testId: 'fields-load' })}
                <h3>${i18n.t('fields.addByName')}</h3>
                ${previewForm(null, 'fields-add')}`
            : readOnlyNote(ctx)
        }
      </section>
      ${
        v.list
          ? html`<section class="card" data-testid="fields-list">
              <h2>${i18n.t('fields.listTitle')}</h2>
              <p class="help">${i18n.t('fields.sampled', { count: v.list.sampled })}</p>
              <table>
                <thead>
                  <tr>
                    <th>${i18n.t('fields.lucca')}</th>
                    <th>${i18n.t('fields.kind')}</th>
                    <th>${i18n.t('fields.withValue')}</th>
                    <th>${i18n.t('fields.use')}</th>
                    <th></th>
                  </tr>
                </thead>
                <tbody>
                  ${v.list.fields.map(
                    (f) =>
                      html`<tr data-lucca="${f.lucca}">
                        <td><code>${f.lucca}</code></td>
                        <td>${i18n.t(f.kind === 'custom' ? 'fields.custom' : 'fields.standard')}</td>
                        <td>${f.withValue}</td>
                        <td>${f.readAs ? html`<code>lucca.extra.${f.readAs}</code>` : i18n.t('fields.notRead')}</td>
                        <td>${f.readAs ? null : previewForm(f.lucca, `fields-preview-${f.lucca}`)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
              <p class="help">${i18n.t('fields.hiddenHelp')}</p>
            </section>`
          : null
      }
      ${
        p
          ? html`<section class="card" data-testid="fields-result">
              <h2>
                ${i18n.t('fields.previewTitle')}: <code>${p.field.lucca}</code> →
                <code>lucca.extra.${p.field.key}</code> (${p.field.type})
              </h2>
              <dl class="facts">
                <dt>${i18n.t('fields.users')}</dt>
                <dd data-testid="fields-users">${p.users}</dd>
                <dt>${i18n.t('fields.withValue')}</dt>
                <dd data-testid="fields-with-value">${p.withValue}</dd>
                <dt>${i18n.t('fields.empty')}</dt>
                <dd data-testid="fields-empty">${p.empty}</dd>
                <dt>${i18n.t('fields.unusable', { type: p.field.type })}</dt>
                <dd data-testid="fields-unusable">${p.unusable}</dd>
                <dt>${i18n.t('fields.gettingValue')}</dt>
                <dd data-testid="fields-getting">${p.profilesGettingValue}</dd>
                <dt>${i18n.t('fields.sample')}</dt>
                <dd data-testid="fields-sample">
                  ${p.sample.length > 0 ? p.sample.map((s) => html`<code>${s}</code> `) : i18n.t('fields.noValue')}
                </dd>
              </dl>
              <form method="post" action="${base}" class="inline">
                ${csrfField(ctx.csrf)}
                <input type="hidden" name="lucca" value="${p.field.lucca}" />
                <input type="hidden" name="key" value="${p.field.key}" />
                <input type="hidden" name="type" value="${p.field.type}" />
                <button type="submit" class="button primary" data-testid="fields-save">${i18n.t('fields.save')}</button>
              </form>
              <p class="muted">${i18n.t('fields.nextRun')}</p>
            </section>`
          : null
      }`,
  );
}
