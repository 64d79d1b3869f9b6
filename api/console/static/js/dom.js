// Small DOM helpers. Text always goes in as text (never as HTML), so nothing the service
// returns can inject markup; the CSP forbids inline scripts and styles anyway.

// h builds an element: h('button', {class: 'primary', onclick: fn}, 'Start').
// Attributes set to false, null or undefined are left out; true sets an empty attribute.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.className = v;
    } else if (k === 'text') {
      el.textContent = v;
    } else if (k === 'value') {
      el.value = v;
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// clear empties el and appends children.
export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
// id makes a unique element id for label/for pairs.
export const id = (prefix) => `${prefix}-${++uid}`;

// field is a labelled control: the label's "for" points at the control.
export function field(labelText, control, hint) {
  if (!control.id) control.id = id('f');
  return h('div', {}, h('label', { for: control.id }, labelText, hint ? h('span', { class: 'hint' }, ` ${hint}`) : null), control);
}

// errorSlot is a live region beside an action: show(err) explains a failure there,
// note(text) confirms a success, clear() empties it. Its height never changes.
export function errorSlot() {
  const el = h('p', { class: 'error', role: 'alert' });
  el.show = (err) => {
    el.className = 'error';
    el.textContent = err ? messageOf(err) : '';
  };
  el.note = (text) => {
    el.className = 'note';
    el.textContent = text;
  };
  el.clear = () => { el.textContent = ''; };
  return el;
}

// messageOf turns an error into a sentence for people.
export function messageOf(err) {
  if (!err) return '';
  if (err.status === 403 && err.slug === 'insufficient-scope') return `Not allowed with this key: ${err.message}`;
  if (err.problem && err.problem.errors && err.problem.errors.length) {
    return `${err.message}: ${err.problem.errors.map((e) => `${e.field} ${e.message}`).join('; ')}`;
  }
  const m = err.message || String(err);
  return m.charAt(0).toUpperCase() + m.slice(1);
}

// busy disables a button while fn runs and shows fn's failure in slot.
export async function busy(button, slot, fn) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  if (slot) slot.clear();
  try {
    return await fn();
  } catch (err) {
    if (err.name === 'AbortError') return undefined;
    if (slot) slot.show(err); else throw err;
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

// progressBar is a fixed-size bar with a fixed-width percentage; set(fraction) updates it.
export function progressBar(label) {
  const bar = h('progress', { max: '1', value: '0', 'aria-label': label });
  const pct = h('span', { class: 'pct num', 'aria-hidden': 'true' }, '0%');
  const el = h('div', { class: 'progress' }, bar, pct);
  el.set = (f) => {
    const v = Math.max(0, Math.min(1, Number(f) || 0));
    bar.value = v;
    pct.textContent = `${Math.floor(v * 100)}%`;
    bar.setAttribute('aria-valuetext', `${Math.floor(v * 100)} percent`);
  };
  return el;
}

// Formatting.
export function fmtBytes(n) {
  if (n === undefined || n === null) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = Number(n);
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function fmtDuration(s) {
  if (s === undefined || s === null || !isFinite(s) || s <= 0) return '–';
  s = Math.round(s);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function fmtNum(v, digits = 1) {
  if (v === undefined || v === null || !isFinite(v)) return '–';
  return Number(v).toLocaleString('en', { maximumFractionDigits: digits });
}

export function fmtTime(t) {
  if (!t) return '–';
  const d = new Date(t);
  return isNaN(d) ? '–' : d.toLocaleString();
}

// badge shows a state.
export const badge = (state) => h('span', { class: `badge ${state || ''}` }, state || 'unknown');

// kv is a definition list of [term, value] pairs; empty values are left out.
export function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// swapImage loads src off-screen and only then shows it in img, so a live preview never
// flashes empty while the next one downloads.
export function swapImage(img, src) {
  if (!src || img.dataset.src === src) return;
  img.dataset.src = src;
  const next = new Image();
  next.onload = () => { if (img.dataset.src === src) img.src = src; };
  next.src = src;
}

// checkRule says a check's rule: "0.62 (>= 0.85)", or just the value when it has none.
const checkRule = (c) => `${typeof c.value === 'number' ? fmtNum(c.value, 3) : '–'}${c.op ? ` (${c.op} ${typeof c.threshold === 'number' ? fmtNum(c.threshold, 3) : c.threshold})` : ''}`;

// checksLine is a rendition's output checks in one compact line: "checks pass", or
// "checks fail:" with each failing check's value and rule; then a "held for review" badge
// linking to reviewHref (default "#/reviews") while its review is pending or rejected.
// r carries checks ({results, passed}) and review as the API gives them; with neither
// (a classic recipe, nothing held) checksLine is null.
export function checksLine(r, reviewHref = '#/reviews') {
  const rep = r && r.checks;
  const held = r && (r.review === 'pending' || r.review === 'rejected');
  if (!rep && !held) return null;
  const failed = ((rep && rep.results) || []).filter((c) => c.verdict !== 'pass');
  const pass = rep ? rep.passed !== false && failed.length === 0 : null;
  let text = null;
  if (pass === true) text = h('span', { class: 'verdict' }, 'checks pass');
  else if (pass === false) {
    const what = failed.map((c) => `${c.name} ${checkRule(c)}`).join(', ');
    text = h('span', { class: 'verdict', title: failed.map((c) => `${c.name} ${checkRule(c)}${c.detail ? `: ${c.detail}` : ''}`).join('\n') },
      what ? `checks fail: ${what}` : 'checks fail');
  }
  const href = r.review === 'rejected' ? `${reviewHref}${reviewHref.includes('?') ? '&' : '?'}state=rejected` : reviewHref;
  return h('p', { class: `checks-line${pass === false ? ' fail' : ''}${pass === true ? ' pass' : ''}`, dataset: { checks: pass === null ? 'none' : (pass ? 'pass' : 'fail'), review: r.review || '' } },
    text,
    held ? h('a', { class: 'held', href, title: r.review === 'rejected' ? 'Rejected in review: not delivered' : 'Waiting for a person in Review: not delivered yet' },
      h('span', { class: `badge ${r.review === 'rejected' ? 'bad' : 'paused'}` }, r.review === 'rejected' ? 'held: rejected' : 'held for review')) : null);
}
