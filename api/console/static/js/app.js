// The console's shell: session, sign-in, and a hash router over the views.
import { get, post, del, onUnauthorized } from './api.js';
import { h, clear, field, errorSlot, busy } from './dom.js';
import * as library from './views/library.js';
import * as image from './views/image.js';
import * as studio from './views/studio.js';
import * as batches from './views/batches.js';
import * as batch from './views/batch.js';
import * as backends from './views/backends.js';
import * as review from './views/review.js';
import * as select from './views/select.js';

const view = document.getElementById('view');
const who = document.getElementById('who');

// Routes: hash pattern -> view module and its section in the navigation.
const routes = [
  [/^#\/library$/, library, 'library'],
  [/^#\/images\/([^/]+)$/, image, 'library'],
  [/^#\/images\/([^/]+)\/scene$/, studio, 'library'],
  [/^#\/scenes\/([^/]+)$/, studio, 'library'],
  [/^#\/select$/, select, 'select'],
  [/^#\/batches$/, batches, 'batches'],
  [/^#\/batches\/([^/]+)$/, batch, 'batches'],
  [/^#\/reviews$/, review, 'reviews'],
  [/^#\/backends$/, backends, 'backends'],
];

let session = null; // GET /v1/session: {open, key, scopes, via, expires_at}
let current = null; // the running view's context

// context is what a view gets: its abort signal, timers that stop when it is left, the
// session's scopes and navigation.
function context() {
  const ac = new AbortController();
  const timers = new Set();
  const cleanups = new Set();
  const ctx = {
    signal: ac.signal,
    can: (scope) => !!session && (session.scopes || []).includes(scope),
    go: (hash) => { location.hash = hash; },
    // every runs fn now and then every ms until the view is left, the returned stop is
    // called or fn returns false. A failure (other than leaving) does not stop it: it shows
    // in slot, an errorSlot, until a later run succeeds (unless something else has been
    // shown there since); without a slot it goes to the browser's console.
    every(ms, fn, slot) {
      let t = null;
      let stopped = false;
      let shown = null; // the failure this poll put in slot
      const tick = async () => {
        timers.delete(t); // fired: only pending timers stay in the set
        if (stopped || ac.signal.aborted) return;
        let again = true;
        try {
          again = (await fn()) !== false;
          if (shown !== null && slot.textContent === shown) slot.clear();
          shown = null;
        } catch (err) {
          if (err.name === 'AbortError' || ac.signal.aborted) return;
          if (slot) { slot.show(err); shown = slot.textContent; } else console.error('console: polling failed', err);
        }
        if (again && !stopped && !ac.signal.aborted) { t = setTimeout(tick, ms); timers.add(t); }
      };
      tick();
      return () => { stopped = true; clearTimeout(t); timers.delete(t); };
    },
    onLeave(fn) { cleanups.add(fn); },
    leave() {
      ac.abort();
      timers.forEach(clearTimeout);
      cleanups.forEach((fn) => { try { fn(); } catch { /* leaving anyway */ } });
    },
  };
  return ctx;
}

function setSection(section) {
  for (const a of document.querySelectorAll('.bar nav a')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  const hash = location.hash;
  if (hash && !hash.startsWith('#/')) return; // in-page anchors such as the skip link
  if (!hash || hash === '#/') { location.replace('#/library'); return; }
  if (!session) { showSignIn(); return; }
  if (current) current.leave();
  const ctx = context();
  current = ctx;
  for (const [re, mod, section] of routes) {
    const m = hash.split('?')[0].match(re);
    if (!m) continue;
    setSection(section);
    const params = m.slice(1).map(decodeURIComponent);
    clear(view, h('p', { class: 'muted' }, 'Loading…'));
    try {
      await mod.render(view, params, ctx, hash);
    } catch (err) {
      if (err.name === 'AbortError' || ctx.signal.aborted) return;
      clear(view, h('h1', { tabindex: '-1' }, 'Something went wrong'), errorSlot());
      view.querySelector('.error').show(err);
    }
    if (!ctx.signal.aborted) {
      const h1 = view.querySelector('h1');
      if (h1) {
        h1.setAttribute('tabindex', '-1');
        h1.focus({ preventScroll: true });
        document.title = `${h1.textContent} · Pictor`;
      }
    }
    return;
  }
  setSection('');
  clear(view, h('h1', {}, 'Not found'), h('p', {}, 'There is no such page. ', h('a', { href: '#/library' }, 'Back to the library')));
}

function showWho() {
  if (!session) { clear(who); return; }
  if (session.open) {
    clear(who, h('span', { title: 'No API keys are configured: anyone who can reach the service may use it.' }, 'Open service'));
    return;
  }
  const btn = h('button', { type: 'button', onclick: () => busy(btn, null, async () => {
    await del('/v1/session').catch(() => {});
    session = null;
    showWho();
    showSignIn('Signed out.');
  }) }, 'Sign out');
  clear(who, h('span', {}, `${session.key} · ${(session.scopes || []).join(', ')}`), btn);
}

// showSignIn asks for an API key and exchanges it for the session cookie; the key itself
// is never stored by the console.
function showSignIn(message) {
  if (current) { current.leave(); current = null; }
  setSection('');
  const key = h('input', { type: 'password', name: 'key', autocomplete: 'off', required: true, spellcheck: 'false', placeholder: 'pk_…' });
  const err = errorSlot();
  if (message) err.note(message);
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'panel', onsubmit: (e) => {
    e.preventDefault();
    busy(submit, err, async () => {
      await post('/v1/session', { key: key.value.trim() }, { quiet401: true });
      key.value = '';
      await loadSession();
      route();
    });
  } },
  field('API key', key, '(from pictor keys new; exchanged for a session cookie, never stored here)'),
  h('div', { class: 'actions' }, submit), err);
  clear(view, h('div', { class: 'signin' }, h('h1', { tabindex: '-1' }, 'Sign in to Pictor'), form));
  document.title = 'Sign in · Pictor';
  key.focus();
}

async function loadSession() {
  try {
    session = await get('/v1/session', { quiet401: true });
  } catch (err) {
    session = null;
    if (err.status !== 401) throw err;
  }
  showWho();
}

onUnauthorized(() => {
  if (!session) return;
  session = null;
  showWho();
  showSignIn('Your session has ended. Sign in again to continue.');
});

window.addEventListener('hashchange', route);

(async () => {
  try {
    await loadSession();
  } catch (err) {
    clear(view, h('h1', {}, 'The service is not answering'), h('p', { class: 'error' }, err.message));
    return;
  }
  if (!session) showSignIn();
  else route();
})();
