import type { CompanyDocument, CompanyScope } from '../../db/companies-repository';
import type { ScopePreview } from '../../operations/scope';
import { html, type Html } from '../html';
import { companyTabs } from './companies';
import { csrfField, layout, readOnlyNote, type ViewContext } from './layout';

export interface ScopeView {
  company: CompanyDocument;
  current: CompanyScope | null;
  /** A dry run of the proposed scope, once the operator asked for one. */
  preview: ScopePreview | null;
  /** Why the last action was refused (an overlap, a run in flight, Lucca unreachable). */
  error: string | null;
}

const idsText = (ids: readonly number[] | undefined) => (ids ?? []).join(',');

/** The company's scope: the tenant's legal entities and departments to choose from, a preview of the choice, then save. */
export function scopePage(ctx: ViewContext, v: ScopeView): Html {
  const { i18n } = ctx;
  const base = `/companies/${v.company._id}/scope`;
  const p = v.preview;
  const proposed = p ? p.proposed : v.current;
  const describe = (scope: CompanyScope | null) =>
    scope
      ? [
          scope.legalEntityIds.length ? `${i18n.t('scope.legalEntities')} ${scope.legalEntityIds.join(', ')}` : '',
          scope.departmentIds.length ? `${i18n.t('scope.departments')} ${scope.departmentIds.join(', ')}` : '',
        ]
          .filter(Boolean)
          .join(' · ')
      : i18n.t('scope.wholeTenant');
  const units = (kind: 'le' | 'dep', list: ScopePreview['organisation']['legalEntities'], chosen: number[] = []) =>
    html`<ul class="plain">
      ${list.map(
        (u) =>
          html`<li>
            <label
              ><input type="checkbox" name="${kind}-${u.id}" value="1" ${chosen.includes(u.id) ? 'checked' : ''} />
              ${u.name ?? `#${u.id}`}
              <span class="muted">(${u.id}) · ${i18n.t('scope.people', { count: u.userCount })}</span></label
            >
          </li>`,
      )}
    </ul>`;
  return layout(
    ctx,
    `${v.company.name} · ${i18n.t('scope.title')}`,
    html`${companyTabs(ctx, v.company, 'integration')}
      <section class="card" data-testid="scope">
        <h2>${i18n.t('scope.title')}</h2>
        <p>${i18n.t('scope.current')} <strong data-testid="scope-current">${describe(v.current)}</strong></p>
        ${v.error ? html`<p class="flash error" data-testid="scope-error">${v.error}</p>` : null}
        ${
          p
            ? html`<form method="post" action="${base}/preview" data-testid="scope-editor">
                ${csrfField(ctx.csrf)}
                <h3>${i18n.t('scope.legalEntities')}</h3>
                ${units('le', p.organisation.legalEntities, proposed?.legalEntityIds)}
                <h3>${i18n.t('scope.departments')}</h3>
                ${units('dep', p.organisation.departments, proposed?.departmentIds)}
                <button type="submit" class="button" data-testid="scope-preview">${i18n.t('scope.preview')}</button>
              </form>`
            : html`<form method="post" action="${base}/preview" class="inline">
                ${csrfField(ctx.csrf)}
                <input type="hidden" name="legalEntityIds" value="${idsText(v.current?.legalEntityIds)}" />
                <input type="hidden" name="departmentIds" value="${idsText(v.current?.departmentIds)}" />
                <button type="submit" class="button" data-testid="scope-load">${i18n.t('scope.load')}</button>
              </form>`
        }
      </section>
      ${
        p
          ? html`<section class="card" data-testid="scope-result">
              <h2>${i18n.t('scope.previewHeading', { scope: describe(p.proposed) })}</h2>
              <dl class="facts">
                <dt>${i18n.t('scope.inScope')}</dt>
                <dd data-testid="scope-in">${p.inScope} / ${p.organisation.userCount}</dd>
                <dt>${i18n.t('scope.attached')}</dt>
                <dd data-testid="scope-attached">${p.profiles.attached}</dd>
                <dt>${i18n.t('scope.created')}</dt>
                <dd data-testid="scope-created">${p.profiles.created}</dd>
                <dt>${i18n.t('scope.kept')}</dt>
                <dd data-testid="scope-kept">${p.profiles.kept}</dd>
                <dt>${i18n.t('scope.outOfScope')}</dt>
                <dd data-testid="scope-out">${p.profiles.deactivatedOutOfScope}</dd>
                <dt>${i18n.t('scope.removed')}</dt>
                <dd>${p.profiles.removedFromLucca}</dd>
              </dl>
              ${p.fired.length > 0 ? html`<p class="flash error">${i18n.t('scope.guarded')}</p>` : null}
              ${
                p.overlaps.length > 0
                  ? html`<div class="flash error" role="alert" data-testid="scope-overlap">
                      <strong>${i18n.t('scope.overlap')}</strong>
                      <ul>
                        ${p.overlaps.map(
                          (o) =>
                            html`<li data-overlap="${o.companyId}">
                              ${o.name} (${o.companyId}) · ${i18n.t('scope.people', { count: o.people ?? 0 })}
                            </li>`,
                        )}
                      </ul>
                    </div>`
                  : null
              }
              ${
                ctx.canAct && p.overlaps.length === 0
                  ? html`<form method="post" action="${base}" class="inline">
                        ${csrfField(ctx.csrf)}
                        <input type="hidden" name="legalEntityIds" value="${idsText(p.proposed?.legalEntityIds)}" />
                        <input type="hidden" name="departmentIds" value="${idsText(p.proposed?.departmentIds)}" />
                        <input type="hidden" name="previewToken" value="${p.token}" />
                        <button type="submit" class="button primary" data-testid="scope-save">
                          ${i18n.t('scope.save')}
                        </button>
                      </form>
                      <p class="muted">${i18n.t('scope.nextRun')}</p>`
                  : ctx.canAct
                    ? null
                    : readOnlyNote(ctx)
              }
            </section>`
          : null
      }`,
  );
}
