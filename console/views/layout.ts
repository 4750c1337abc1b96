import { html, query, raw, type Html, type HtmlValue } from '../html';
import type { ConsoleRole } from '../../domain/console-accounts';
import type { I18n } from '../i18n';

export interface ViewContext {
  i18n: I18n;
  /** CSRF token for the forms of this page. */
  csrf: string;
  user: string | null;
  role: ConsoleRole | null;
  /** The account may act (operator); a viewer's pages hide or disable the actions. */
  canAct: boolean;
  /** The current path and query, for the language switch to come back to. */
  currentUrl: string;
  flash?: { kind: 'ok' | 'error'; text: string } | null;
}

const LUCCA_SVG =
  '<svg viewBox="0 0 20 20" width="18" height="18" aria-hidden="true" focusable="false"><rect width="20" height="20" rx="5" fill="#3b5bdb"/><path d="M6.5 4.5v11h7.5" fill="none" stroke="#fff" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round"/><circle cx="14.2" cy="6.2" r="1.7" fill="#ffd43b"/></svg>';

/** The Lucca pictogram shown next to everything that comes from Lucca. */
export function luccaPictogram(label: string): Html {
  return html`<span class="lucca-icon" role="img" aria-label="${label}" title="${label}" data-testid="lucca-pictogram"
    >${raw(LUCCA_SVG)}</span
  >`;
}

export function csrfField(csrf: string): Html {
  return html`<input type="hidden" name="_csrf" value="${csrf}" />`;
}

export function postButton(
  ctx: ViewContext,
  action: string,
  label: string,
  opts: { className?: string; fields?: Record<string, string>; testId?: string } = {},
): Html {
  return html`<form method="post" action="${action}" class="inline">
    ${csrfField(ctx.csrf)}
    ${Object.entries(opts.fields ?? {}).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}" />`)}
    <button type="submit" class="${opts.className ?? 'button'}" data-testid="${opts.testId ?? null}">${label}</button>
  </form>`;
}

/** `reload`: the page loads this URL again after so many seconds (a list still being read). */
export function layout(
  ctx: ViewContext,
  title: string,
  body: HtmlValue,
  opts: { reload?: { seconds: number; url: string } } = {},
): Html {
  const { i18n } = ctx;
  const otherLang = i18n.lang === 'fr' ? 'en' : 'fr';
  return html`<!doctype html>
    <html lang="${i18n.lang}">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · ${i18n.t('app.title')}</title>
        ${opts.reload ? html`<meta http-equiv="refresh" content="${opts.reload.seconds};url=${opts.reload.url}" />` : null}
        <link rel="stylesheet" href="/assets/console.css" />
        <script src="/assets/console.js" defer></script>
      </head>
      <body>
        <header class="topbar">
          <a class="brand" href="/companies">${i18n.t('app.title')}</a>
          <nav>
            ${ctx.user ? html`<a href="/companies">${i18n.t('nav.companies')}</a>` : null}
            <a href="/lang/${otherLang}${query({ next: ctx.currentUrl })}" lang="${otherLang}" data-testid="lang-switch"
              >${i18n.t('nav.language')}</a
            >
            ${
              ctx.user
                ? html`<span class="user" data-testid="user" data-role="${ctx.role ?? ''}"
                      >${ctx.user}${ctx.role === 'viewer' ? html` · ${i18n.t('role.viewer')}` : null}</span
                    >
                    ${postButton(ctx, '/logout', i18n.t('nav.logout'), { className: 'link' })}`
                : null
            }
          </nav>
        </header>
        <main>
          ${
            ctx.flash
              ? html`<p class="flash ${ctx.flash.kind}" role="status" data-testid="flash">${ctx.flash.text}</p>`
              : null
          }
          ${body}
        </main>
      </body>
    </html>`;
}

export function statusBadge(i18n: I18n, status: string): Html {
  const key = `status.${status}` as Parameters<I18n['t']>[0];
  return html`<span class="badge status-${status}" data-status="${status}">${i18n.t(key)}</span>`;
}

export function notFoundPage(ctx: ViewContext): Html {
  const { i18n } = ctx;
  return layout(
    ctx,
    i18n.t('notFound.title'),
    html`<section class="card narrow">
      <h1>${i18n.t('notFound.title')}</h1>
      <p>${i18n.t('notFound.text')}</p>
      <p><a href="/companies">${i18n.t('notFound.back')}</a></p>
    </section>`,
  );
}

export function errorPage(ctx: ViewContext, message: string): Html {
  return layout(
    ctx,
    ctx.i18n.t('error.title'),
    html`<section class="card narrow">
      <h1>${ctx.i18n.t('error.title')}</h1>
      <p>${message}</p>
      <p><a href="/companies">${ctx.i18n.t('notFound.back')}</a></p>
    </section>`,
  );
}

/** A viewer's note where an operator has actions. */
export function readOnlyNote(ctx: ViewContext): Html {
  return html`<p class="help" data-testid="read-only">${ctx.i18n.t('readOnly.note')}</p>`;
}

export function loginPage(
  ctx: ViewContext,
  opts: { next: string; failed: boolean; user?: string; lockedFor?: string; busy?: boolean },
): Html {
  const { i18n } = ctx;
  return layout(
    ctx,
    i18n.t('login.title'),
    html`<section class="card narrow">
      <h1>${i18n.t('login.title')}</h1>
      ${
        opts.lockedFor
          ? html`<p class="flash error" role="alert" data-testid="login-locked">
              ${i18n.t('login.locked', { wait: opts.lockedFor })}
            </p>`
          : opts.busy
            ? html`<p class="flash error" role="alert" data-testid="login-busy">${i18n.t('login.busy')}</p>`
            : opts.failed
              ? html`<p class="flash error" role="alert">${i18n.t('login.failed')}</p>`
              : null
      }
      <form method="post" action="/login" class="stack">
        ${csrfField(ctx.csrf)}
        <input type="hidden" name="next" value="${opts.next}" />
        <label
          >${i18n.t('login.user')}
          <input name="username" autocomplete="username" required value="${opts.user ?? ''}" />
        </label>
        <label
          >${i18n.t('login.password')}
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        <button type="submit" class="button primary">${i18n.t('login.submit')}</button>
      </form>
    </section>`,
  );
}
