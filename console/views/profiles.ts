import type { CompanyDocument } from '../../db/companies-repository';
import type { ProfileDocument } from '../../db/profiles-repository';
import { SYNCED_FIELDS, type ProfileStatus } from '../../domain/types';
import type { ProfileHistoryEntry } from '../data';
import { html, query, type Html } from '../html';
import type { MessageKey } from '../i18n';
import { companyTabs } from './companies';
import { layout, luccaPictogram, type ViewContext } from './layout';
import { fieldDiff, formatFieldValue, reasonList } from './run';

export interface ProfilesView {
  company: CompanyDocument;
  filter: { status?: ProfileStatus; linked?: boolean };
  total: number;
  skip: number;
  limit: number;
  items: ProfileDocument[];
}

export function profilesPage(ctx: ViewContext, v: ProfilesView): Html {
  const { i18n } = ctx;
  const base = `/companies/${v.company._id}/profiles`;
  const linkedValue = v.filter.linked === undefined ? '' : v.filter.linked ? 'yes' : 'no';
  const pageLink = (skip: number) =>
    `${base}${query({ status: v.filter.status, linked: linkedValue, skip: skip > 0 ? skip : undefined })}`;
  const icon = luccaPictogram(i18n.t('profiles.luccaIcon'));
  return layout(
    ctx,
    `${v.company.name} · ${i18n.t('profiles.title')}`,
    html`${companyTabs(ctx, v.company, 'profiles')}
      <form method="get" action="${base}" class="row filters" data-testid="profile-filters">
        <label
          >${i18n.t('profiles.filterStatus')}
          <select name="status">
            <option value="">${i18n.t('profiles.all')}</option>
            ${(['active', 'upcoming', 'former'] as const).map(
              (s) =>
                html`<option value="${s}" ${v.filter.status === s ? 'selected' : ''}>
                  ${i18n.t(`profileStatus.${s}`)}
                </option>`,
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
        <button type="submit" class="button">${i18n.t('profiles.filter')}</button>
        <span class="muted" data-testid="profiles-total"
          >${i18n.t('profiles.total', { count: i18n.number(v.total) })}</span
        >
      </form>
      ${
        v.items.length === 0
          ? html`<p class="empty">${i18n.t('profiles.empty')}</p>`
          : html`<table class="table" data-testid="profiles">
                <thead>
                  <tr>
                    <th></th>
                    <th>${i18n.t('profiles.name')}</th>
                    <th>${i18n.t('field.email')}</th>
                    <th>${i18n.t('field.status')}</th>
                    <th>${i18n.t('field.contractStart')}</th>
                    <th>${i18n.t('field.contractEnd')}</th>
                  </tr>
                </thead>
                <tbody>
                  ${v.items.map(
                    (p) =>
                      html`<tr data-profile="${p._id.toHexString()}" data-linked="${p.lucca ? 'yes' : 'no'}">
                        <td class="icon-cell">${p.lucca ? icon : null}</td>
                        <td>
                          <a href="${base}/${p._id.toHexString()}">${p.lastName ?? ''} ${p.firstName ?? ''}</a>
                        </td>
                        <td>${p.email ?? i18n.t('common.none')}</td>
                        <td><span class="badge profile-${p.status}">${i18n.t(`profileStatus.${p.status}`)}</span></td>
                        <td>${i18n.day(p.contractStart)}</td>
                        <td>${i18n.day(p.contractEnd)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
              <nav class="pager">
                ${v.skip > 0 ? html`<a href="${pageLink(v.skip - v.limit)}">← ${i18n.t('profiles.previous')}</a>` : null}
                ${
                  v.skip + v.items.length < v.total
                    ? html`<a href="${pageLink(v.skip + v.limit)}">${i18n.t('profiles.next')} →</a>`
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
                  <dd>${i18n.dateTime(profile.lucca.lastSeenAt, tz)}</dd>
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
