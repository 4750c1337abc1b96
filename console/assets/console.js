/* global document, window, DOMParser */
// The console's only script: live progress and a "Test the connection" that keeps the form as typed.
// No framework and no build; the pages work without it (forms post and redirect).
'use strict';

const POLL_MS = 1000;

function pollRun(el) {
  const url = el.getAttribute('data-live-run');
  const tick = async () => {
    try {
      const res = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      if (res.ok) {
        const body = await res.json();
        if (body.run.status !== 'running') {
          window.location.reload();
          return;
        }
        const values = {
          phase: body.phaseLabel,
          pagesRead: body.run.progress.pagesRead,
          usersRead: body.run.progress.usersRead,
          changesSoFar: body.changesSoFar,
        };
        for (const [name, value] of Object.entries(values)) {
          const target = el.querySelector(`[data-progress="${name}"]`);
          if (target && value !== undefined) target.textContent = String(value);
        }
      }
    } catch {
      // A missed poll is retried at the next tick.
    }
    setTimeout(tick, POLL_MS);
  };
  setTimeout(tick, POLL_MS);
}

function pollSections() {
  const startedAt = Date.now();
  const minimumMs = 30000;
  const tick = async () => {
    try {
      const res = await fetch(window.location.href, { credentials: 'same-origin', headers: { Accept: 'text/html' } });
      if (res.ok) {
        const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
        for (const section of document.querySelectorAll('[data-live-section]')) {
          const fresh = doc.querySelector(`[data-live-section="${section.getAttribute('data-live-section')}"]`);
          if (!fresh) continue;
          if (fresh.innerHTML !== section.innerHTML) section.innerHTML = fresh.innerHTML;
          section.setAttribute('data-live', fresh.getAttribute('data-live') || 'off');
        }
      }
    } catch {
      // Retried at the next tick.
    }
    const live = document.querySelector('[data-live-section][data-live="on"]');
    if (live || Date.now() - startedAt < minimumMs) setTimeout(tick, POLL_MS * 1.5);
  };
  setTimeout(tick, POLL_MS);
}

// A form's button that posts the form in the background (the page stays, and what was typed with
// it); without scripts, or when the post fails, the form is sent the plain way.
function postFromButton(form, button, accept, handle) {
  button.addEventListener('click', async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      const res = await fetch(button.getAttribute('formaction'), {
        method: 'POST',
        credentials: 'same-origin',
        headers: { Accept: accept, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(new FormData(form)),
      });
      await handle(res);
    } catch {
      form.submit();
    } finally {
      button.disabled = false;
    }
  });
}

function enhanceConnectionTest(form) {
  const button = form.querySelector('[data-test-connection]');
  const result = form.querySelector('[data-connection-result]');
  if (!button || !result) return;
  postFromButton(form, button, 'application/json', async (res) => {
    const body = await res.json();
    const box = document.createElement('div');
    const ok = body.outcome === 'ok';
    box.className = `flash ${ok ? 'ok' : 'error'}`;
    box.setAttribute('role', ok ? 'status' : 'alert');
    box.setAttribute('data-testid', 'connection-result');
    box.setAttribute('data-outcome', body.outcome || 'other');
    box.setAttribute('data-kind', 'test');
    const strong = document.createElement('strong');
    strong.textContent = body.message || '';
    box.appendChild(strong);
    if (!ok && body.detail) {
      const detail = document.createElement('div');
      detail.className = 'small';
      detail.textContent = body.detail;
      box.appendChild(detail);
    }
    result.replaceChildren(box);
  });
}

// The new company's scope choices, read with the key as typed: the answer's choices replace the
// form's, and the key stays in its field (a plain post would come back without it).
function enhanceScopeLoad(form) {
  const button = form.querySelector('[data-load-scope]');
  const choices = form.querySelector('[data-scope-choices]');
  if (!button || !choices) return;
  postFromButton(form, button, 'text/html', async (res) => {
    const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
    const fresh = doc.querySelector('[data-scope-choices]');
    if (fresh) choices.innerHTML = fresh.innerHTML;
    const result = form.querySelector('[data-connection-result]');
    const freshResult = doc.querySelector('[data-connection-result]');
    if (result && freshResult) result.innerHTML = freshResult.innerHTML;
  });
}

document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('[data-live-run]').forEach((el) => {
    if (el.classList.contains('progress')) pollRun(el);
  });
  if (document.querySelector('[data-live-section][data-live="on"]')) pollSections();
  document.querySelectorAll('[data-connection-form]').forEach(enhanceConnectionTest);
  document.querySelectorAll('[data-connection-form]').forEach(enhanceScopeLoad);
});
