import { formatExtraValue } from '../../domain/extra-fields';
import type { CompanyDocument } from '../../db/companies-repository';
import type { ProfileDocument } from '../../db/profiles-repository';
import { SYNCED_FIELDS } from '../../domain/types';
import type { ProfileHistoryEntry, ProfileList } from '../data';
import type { ProfileListFilter } from '../../domain/profile-list';
import { html, query, type Html } from '../html';
import type { MessageKey } from '../i18n';
import { companyTabs } from './companies';
import { layout, luccaPictogram, type ViewContext } from './layout';
import { fieldDiff, formatFieldValue, reasonList } from './run';

export interface ProfilesView {
  company: CompanyDocument;
  filter: ProfileListFilter;
  list: ProfileList;
}

export function profilesPage(ctx: ViewContext, v: ProfilesView): Html {
  const { i18n } = ctx;
  const base = `/companies/${v.company._id}/profiles`;
  const f = v.filter;
  const linkedValue = f.linked === undefined ? '' : f.linked ? 'yes' : 'no';
  const params = {
    q: f.search,
    status: f.status,
    linked: linkedValue,
    legalEntity: f.legalEntityId,
    department: f.departmentId,
  };
  const pageLink = (skip: number) => `${base}${query({ ...params, skip: skip > 0 ? skip : undefined })}`;
  const title = `${v.company.name} · ${i18n.t('profiles.title')}`;
  const tabs = companyTabs(ctx, v.company, 'profiles');
  const list = v.list;
  if (list.kind === 'building') {
    return layout(
      ctx,
      title,
      html`${tabs}
        <p class="empty" data-testid="profiles-building" role="status">
          ${i18n.t('profiles.building', { count: i18n.number(list.read) })}
        </p>`,
      { reload: { seconds: 2, url: `${base}${query(params)}` } },
    );
  }
  const icon = luccaPictogram(i18n.t('profiles.luccaIcon'));
  const unitOptions = (units: { id: number; name: string; count: number }[], selected: number | undefined) =>
    units.map(
      (u) =>
        html`<option value="${u.id}" ${selected === u.id ? 'selected' : ''}>
          ${u.name} (${i18n.number(u.count)})
        </option>`,
    );
  const last = Math.min(list.skip + list.items.length, list.total);
  return layout(
    ctx,
    title,
    html`${tabs}
      <form method="get" action="${base}" class="row filters" data-testid="profile-filters">
        <label
          >${i18n.t('profiles.search')}
          <input type="search" name="q" value="${f.search ?? ''}" maxlength="200" data-testid="profile-search" />
        </label>
        <label
          >${i18n.t('profiles.filterStatus')}
          <select name="status" data-testid="filter-status">
            <option value="">${i18n.t('profiles.all')}</option>
            ${(['active', 'upcoming', 'former'] as const).map(
              (s) =>
                html`<option value="${s}" ${f.status === s ? 'selected' : ''}>${i18n.t(`profileStatus.${s}`)}</option>`,
            )}
          </select>
        </label>
        <label
          >${i18n.t('profiles.filterLinked')}
          <select name="linked">
            <option value="">${i18n.t('profiles.all')}</option>
            <option value="yes" ${linkedValue === 'yes' ? 'selected' : ''}>${i18n.t('profiles.linked')}</option>
            <option value="no" ${linkedValue === 'no' ? 'selected' : ''}>${i18n.t('profiles.unlinked')}</option>
          </select>
        </label>
        <label
          >${i18n.t('profiles.filterLegalEntity')}
          <select name="legalEntity" data-testid="filter-legal-entity">
            <option value="">${i18n.t('profiles.all')}</option>
            ${unitOptions(list.legalEntities, f.legalEntityId)}
          </select>
        </label>
        <label
          >${i18n.t('profiles.filterDepartment')}
          <select name="department" data-testid="filter-department">
            <option value="">${i18n.t('profiles.all')}</option>
            ${unitOptions(list.departments, f.departmentId)}
          </select>
        </label>
        <button type="submit" class="button">${i18n.t('profiles.filter')}</button>
      </form>
      <p class="muted small" data-testid="profiles-as-of">
        <span data-testid="profiles-total" data-total="${list.total}"
          >${
            list.total === 0
              ? i18n.t('profiles.total', { count: 0 })
              : i18n.t('profiles.showing', {
                  from: i18n.number(list.skip + 1),
                  to: i18n.number(last),
                  total: i18n.number(list.total),
                })
          }</span
        >
        · ${i18n.t('profiles.asOf', { time: i18n.dateTime(list.builtAt, v.company.timezone) })}
        ${list.refreshing ? html`(${i18n.t('profiles.refreshing')})` : null} ·
        <a href="${base}${query({ ...params, refresh: 1 })}" data-testid="profiles-refresh"
          >${i18n.t('profiles.refresh')}</a
        >
      </p>
      ${
        list.items.length === 0
          ? html`<p class="empty">${i18n.t('profiles.empty')}</p>`
          : html`<table class="table" data-testid="profiles">
                <thead>
                  <tr>
                    <th></th>
                    <th>${i18n.t('profiles.name')}</th>
                    <th>${i18n.t('field.email')}</th>
                    <th>${i18n.t('field.status')}</th>
                    <th>${i18n.t('profiles.filterLegalEntity')}</th>
                    <th>${i18n.t('profiles.filterDepartment')}</th>
                    <th>${i18n.t('field.contractStart')}</th>
                    <th>${i18n.t('field.contractEnd')}</th>
                  </tr>
                </thead>
                <tbody>
                  ${list.items.map(
                    (p) =>
                      html`<tr data-profile="${p.id}" data-linked="${p.linked ? 'yes' : 'no'}">
                        <td class="icon-cell">${p.linked ? icon : null}</td>
                        <td>
                          <a href="${base}/${p.id}" data-testid="profile-link"
                            >${p.lastName ?? ''} ${p.firstName ?? ''}</a
                          >
                        </td>
                        <td>${p.email ?? i18n.t('common.none')}</td>
                        <td><span class="badge profile-${p.status}">${i18n.t(`profileStatus.${p.status}`)}</span></td>
                        <td>${p.legalEntity?.name ?? ''}</td>
                        <td>${p.department?.name ?? ''}</td>
                        <td>${i18n.day(p.contractStart)}</td>
                        <td>${i18n.day(p.contractEnd)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
              <nav class="pager" data-testid="profiles-pager">
                ${
                  list.skip > 0
                    ? html`<a href="${pageLink(Math.max(list.skip - list.limit, 0))}" data-testid="page-previous"
                        >← ${i18n.t('profiles.previous')}</a
                      >`
                    : null
                }
                ${
                  list.skip + list.items.length < list.total
                    ? html`<a href="${pageLink(list.skip + list.limit)}" data-testid="page-next"
                        >${i18n.t('profiles.next')} →</a
                      >`
                    : null
                }
              </nav>`
      }`,
  );
}

export interface ProfileView {
  company: CompanyDocument;
  profile: ProfileDocument;
  history: ProfileHistoryEntry[];
  /** When a run's read of Lucca last returned the person (see `getProfile`). */
  lastSeenInLucca: Date | null;
}

/**
 * The extra Lucca fields the profile holds (`lucca.extra`), each marked synced while the company
 * reads it, or no longer synced once removed with its values kept.
 */
function extraFieldsCard(ctx: ViewContext, v: ProfileView): Html | null {
  const { i18n } = ctx;
  const extra = v.profile.lucca?.extra;
  if (!extra || Object.keys(extra).length === 0) return null;
  const read = new Map((v.company.lucca.extraFields ?? []).map((f) => [f.key, f]));
  return html`<section class="card">
    <h2>${i18n.t('profile.extraFields')}</h2>
    <dl class="facts wide" data-testid="profile-extra-fields">
      ${Object.entries(extra).map(([key, value]) => {
        const field = read.get(key);
        return html`<dt>${key}${field ? html` <span class="muted small">${field.lucca}</span>` : null}</dt>
          <dd data-extra="${key}">
            ${value === null ? i18n.t('common.none') : formatExtraValue(value)}
            <span class="synced">${i18n.t(field ? 'profile.synced' : 'profile.extraNotSynced')}</span>
          </dd>`;
      })}
    </dl>
  </section>`;
}

export function profilePage(ctx: ViewContext, v: ProfileView): Html {
  const { i18n } = ctx;
  const { profile, company } = v;
  const tz = company.timezone;
  const linked = profile.lucca !== undefined;
  const title = `${profile.firstName ?? ''} ${profile.lastName ?? ''}`.trim();
  return layout(
    ctx,
    `${title} · ${company.name}`,
    html`${companyTabs(ctx, company, 'profiles')}
      <section class="card">
        <h2 data-testid="profile-name">
          ${linked ? luccaPictogram(i18n.t('profiles.luccaIcon')) : null} ${title || i18n.t('common.none')}
          <span class="badge profile-${profile.status}">${i18n.t(`profileStatus.${profile.status}`)}</span>
        </h2>
        ${
          profile.lucca
            ? html`<div class="banner" role="note" data-testid="lucca-banner">
                ${luccaPictogram(i18n.t('profiles.luccaIcon'))}
                <p>${i18n.t('profile.banner', { userId: profile.lucca.userId })}</p>
              </div>`
            : null
        }
        <dl class="facts wide" data-testid="profile-fields">
          ${SYNCED_FIELDS.map(
            (f) =>
              html`<dt>${i18n.t(`field.${f}` as MessageKey)}</dt>
                <dd data-field="${f}">
                  ${formatFieldValue(i18n, f, profile[f])}
                  ${linked ? html`<span class="synced" title="${i18n.t('profile.synced')}">${i18n.t('profile.synced')}</span>` : null}
                </dd>`,
          )}
          ${
            profile.lucca
              ? html`<dt>${i18n.t('profile.linkedAt')}</dt>
                  <dd>${i18n.dateTime(profile.lucca.linkedAt, tz)}</dd>
                  <dt>${i18n.t('profile.lastSeen')}</dt>
                  <dd data-testid="last-seen">${i18n.dateTime(v.lastSeenInLucca, tz)}</dd>
                  <dt>${i18n.t('profile.lastWritten')}</dt>
                  <dd data-testid="last-written">${i18n.dateTime(profile.lucca.lastSeenAt, tz)}</dd>
                  ${
                    profile.lucca.removedAt
                      ? html`<dt>${i18n.t('profile.removed')}</dt>
                          <dd>${i18n.dateTime(profile.lucca.removedAt, tz)}</dd>`
                      : null
                  }`
              : null
          }
        </dl>
      </section>
      ${extraFieldsCard(ctx, v)}
      <section class="card" data-testid="profile-history">
        <h2>${i18n.t('profile.history')}</h2>
        ${
          v.history.length === 0
            ? html`<p class="empty">${i18n.t('profile.noHistory')}</p>`
            : html`<ol class="changes">
                ${v.history.map(
                  ({ change, run }) =>
                    html`<li class="change" data-action="${change.action}">
                      <div class="change-head">
                        <strong>${i18n.t(`action.${change.action}` as MessageKey)}</strong>
                        ${
                          run
                            ? html`<a href="/companies/${company._id}/runs/${run._id}"
                                  >${i18n.dateTime(run.startedAt, tz)}</a
                                >
                                <span class="muted small">${i18n.t(`trigger.${run.trigger}` as MessageKey)}</span>`
                            : null
                        }
                      </div>
                      ${fieldDiff(i18n, change.fields, change.action)} ${reasonList(i18n, change.reasons)}
                    </li>`,
                )}
              </ol>`
        }
      </section>`,
  );
}
