// Review: the queue of renditions held for a person (GET /v1/reviews). A filter by state,
// batch, scene and failing check; the current item large, original and rendition side by
// side, with every check (failing ones highlighted); approve, reject with a reason, next and
// previous, by button or by key; and "approve all matching" for the whole filter.
import { get, post, enc } from '../api.js';
import { h, clear, field, errorSlot, busy, badge, fmtNum, fmtTime, kv } from '../dom.js';
import { renditionContent, originalContent } from './image.js';

// STATES are the queue's states, the API's default first.
export const STATES = ['pending', 'approved', 'rejected', 'all'];

// PAGE is how many reviews one list call asks for.
const PAGE = 50;

// KEYS maps shortcuts to actions; none fires while typing in a form control.
export const KEYS = { a: 'approve', r: 'reject', j: 'next', ArrowRight: 'next', k: 'previous', ArrowLeft: 'previous' };

// parseFilter reads the filter from the route's query ("#/reviews?state=pending&check=…").
export function parseFilter(hash) {
  const q = new URLSearchParams((hash || '').split('?')[1] || '');
  const state = STATES.includes(q.get('state')) ? q.get('state') : 'pending';
  return { state, batch: q.get('batch') || '', scene: q.get('scene') || '', check: q.get('check') || '' };
}

// query is the filter as a query string, empty fields left out.
export function query(f, extra = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...f, ...extra })) if (v !== '' && v !== undefined && v !== null) q.set(k, String(v));
  return q.toString();
}

// sameOrigin keeps an image URL only when it is one of the service's own routes (the CSP
// allows images from this origin only); otherwise fallback is used.
const sameOrigin = (u, fallback) => (typeof u === 'string' && /^\/v1\//.test(u) ? u : fallback);

// typing says whether a key event comes from a place where keys are text.
function typing(e) {
  const t = e.target;
  if (!t || !t.tagName) return false;
  return t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName);
}

// fmtValue shows a check's number with up to three decimals.
export const fmtValue = (v) => (typeof v === 'number' ? fmtNum(v, 3) : (v === undefined || v === null ? '–' : String(v)));

export async function render(root, _params, ctx, hash) {
  const filter = parseFilter(hash);
  const canDecide = ctx.can('write');
  const seenChecks = new Set(filter.check ? [filter.check] : []);

  // The queue as loaded so far: items in order, the next page's cursor, the filter's total.
  let items = [];
  let cursor = '';
  let total = 0;
  let index = 0;
  let working = false; // a decision or a load is on its way; keys wait for it

  // Filter form.
  const stateSel = h('select', { name: 'state' }, STATES.map((s) => h('option', { value: s, selected: s === filter.state }, s)));
  const batchIn = h('input', { type: 'text', name: 'batch', autocomplete: 'off', spellcheck: 'false', placeholder: 'bat_…', value: filter.batch });
  const sceneIn = h('input', { type: 'text', name: 'scene', autocomplete: 'off', spellcheck: 'false', placeholder: 'scn_…', value: filter.scene });
  const checkSel = h('select', { name: 'check' });
  const applyBtn = h('button', { type: 'submit' }, 'Apply');
  const filterForm = h('form', { class: 'toolbar review-filter', role: 'search', 'aria-label': 'Filter the reviews', onsubmit: (e) => {
    e.preventDefault();
    filter.state = stateSel.value;
    filter.batch = batchIn.value.trim();
    filter.scene = sceneIn.value.trim();
    filter.check = checkSel.value;
    history.replaceState(null, '', `#/reviews${query(filter) ? `?${query(filter)}` : ''}`);
    bulkConfirm.classList.add('hidden'); // it named the old filter's number
    busy(applyBtn, listErr, () => reload());
  } },
  field('State', stateSel), field('Batch', batchIn), field('Scene', sceneIn), field('Failing check', checkSel),
  h('div', {}, applyBtn));

  function fillChecks() {
    const names = [...seenChecks].sort();
    checkSel.replaceChildren(h('option', { value: '' }, 'any'),
      names.map((n) => h('option', { value: n, selected: n === filter.check }, n)));
    checkSel.value = filter.check;
  }
  fillChecks();

  // Bulk approval, with a confirmation that names the number. Its messages and the list's
  // share the page's slot.
  const listErr = errorSlot();
  const bulkErr = listErr;
  const bulkBtn = h('button', { type: 'button', 'data-action': 'bulk' }, 'Approve all matching…');
  const bulkYes = h('button', { type: 'button', class: 'primary', 'data-action': 'bulk-confirm' }, 'Approve');
  const bulkNo = h('button', { type: 'button', 'data-action': 'bulk-cancel' }, 'Cancel');
  const bulkText = h('p', { class: 'bulk-text' });
  const bulkConfirm = h('div', { class: 'confirm hidden', role: 'group', 'aria-label': 'Confirm approving all matching' }, bulkText, h('div', { class: 'row' }, bulkYes, bulkNo));
  bulkBtn.addEventListener('click', () => busy(bulkBtn, bulkErr, async () => {
    const res = await get(`/v1/reviews?${query(filter, { limit: 1 })}`, { signal: ctx.signal });
    const bulkCount = Number(res.total) || 0;
    if (bulkCount === 0) { bulkErr.note('Nothing matches this filter.'); return; }
    bulkText.textContent = `Approve all ${bulkCount} review${bulkCount === 1 ? '' : 's'} matching ${describe(filter)}?`;
    bulkYes.textContent = `Approve ${bulkCount}`;
    bulkConfirm.classList.remove('hidden');
    bulkYes.focus();
  }));
  bulkNo.addEventListener('click', () => { bulkConfirm.classList.add('hidden'); bulkBtn.focus(); });
  bulkYes.addEventListener('click', () => busy(bulkYes, bulkErr, async () => {
    const f = Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== ''));
    const res = await post('/v1/reviews/decide', { filter: f, decision: 'approve' }, { signal: ctx.signal });
    bulkConfirm.classList.add('hidden');
    await reload();
    bulkErr.note(`Approved ${res.decided} review${res.decided === 1 ? '' : 's'}.`);
    bulkBtn.focus();
  }));

  // The queue beside the current item.
  const queueList = h('ol', { class: 'queue', 'aria-label': 'Reviews in this filter' });
  const more = h('p', { class: 'muted hidden' }, 'More load as you go.');

  // The current item.
  const count = h('span', { class: 'count num', id: 'review-count', 'aria-live': 'polite' }, '');
  const title = h('h2', { id: 'item-h', tabindex: '-1' }, '');
  const stateBadge = h('span');
  const beforeImg = h('img', { alt: '' });
  const afterImg = h('img', { alt: '' });
  const beforeCap = h('figcaption', {}, 'Before: original');
  const afterCap = h('figcaption', {}, 'After');
  const facts = h('div', { class: 'facts' });
  const checksBody = h('tbody');
  const checksTable = h('table', { class: 'checks', 'aria-label': 'Checks' },
    h('thead', {}, h('tr', {}, ['Check', 'Value', 'Rule', 'Verdict'].map((t) => h('th', { scope: 'col' }, t)))), checksBody);
  const noChecks = h('p', { class: 'muted hidden' }, 'No check report.');
  const actErr = errorSlot();
  const kbd = (k) => h('kbd', {}, k);
  const approveBtn = h('button', { type: 'button', class: 'primary', 'data-action': 'approve', 'aria-keyshortcuts': 'a' }, 'Approve ', kbd('a'));
  const rejectBtn = h('button', { type: 'button', class: 'danger', 'data-action': 'reject', 'aria-keyshortcuts': 'r' }, 'Reject… ', kbd('r'));
  const prevBtn = h('button', { type: 'button', 'data-action': 'previous', 'aria-keyshortcuts': 'k ArrowLeft' }, '← Previous ', kbd('k'));
  const nextBtn = h('button', { type: 'button', 'data-action': 'next', 'aria-keyshortcuts': 'j ArrowRight' }, 'Next → ', kbd('j'));
  const reason = h('input', { type: 'text', name: 'reason', autocomplete: 'off', required: true, placeholder: 'e.g. the label is cut off', 'aria-describedby': 'reason-hint' });
  const rejectYes = h('button', { type: 'submit', class: 'danger' }, 'Reject');
  const rejectNo = h('button', { type: 'button' }, 'Cancel');
  const rejectForm = h('form', { class: 'reject hidden', novalidate: true, onsubmit: (e) => { e.preventDefault(); reject(); } },
    field('Reason for rejecting', reason),
    h('p', { class: 'hint muted', id: 'reason-hint' }, 'Required. Enter rejects, Escape cancels.'),
    h('div', { class: 'row' }, rejectYes, rejectNo));
  reason.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); closeReject(); } });
  rejectNo.addEventListener('click', () => closeReject());

  const itemPanel = h('section', { class: 'panel item', 'aria-labelledby': 'item-h' },
    h('div', { class: 'spread' }, h('div', { class: 'row' }, title, stateBadge), count),
    h('div', { class: 'item-body' },
      h('div', {},
        h('div', { class: 'ba' },
          h('figure', {}, h('div', { class: 'frame' }, beforeImg), beforeCap),
          h('figure', {}, h('div', { class: 'frame' }, afterImg), afterCap)),
        facts),
      h('div', { class: 'decide' },
        h('div', { class: 'actions' }, canDecide ? [approveBtn, rejectBtn] : null, prevBtn, nextBtn),
        canDecide ? rejectForm : h('p', { class: 'muted' }, 'This key may look but not decide (approving needs the write scope).'),
        actErr,
        h('h3', {}, 'Checks ', h('span', { class: 'hint muted' }, '(failing first)')), checksTable, noChecks,
        h('p', { class: 'muted keys' }, 'Keys: ', kbd('a'), ' approve · ', kbd('r'), ' reject · ', kbd('j'), ' or ', kbd('→'), ' next · ', kbd('k'), ' or ', kbd('←'), ' previous'))));
  const empty = h('section', { class: 'panel empty-queue hidden', 'aria-labelledby': 'empty-h' },
    h('h2', { id: 'empty-h' }, 'Nothing to review'),
    h('p', { class: 'muted' }, 'No rendition matches this filter.'));

  approveBtn.addEventListener('click', () => approve());
  rejectBtn.addEventListener('click', () => openReject());
  prevBtn.addEventListener('click', () => move(-1));
  nextBtn.addEventListener('click', () => move(1));

  clear(root,
    h('div', { class: 'spread page-head' }, h('h1', {}, 'Review'), canDecide ? h('div', { class: 'row' }, bulkBtn) : null),
    filterForm,
    canDecide ? bulkConfirm : null,
    listErr,
    h('div', { class: 'review' },
      h('nav', { class: 'panel queue-panel', 'aria-label': 'Queue' }, h('h2', {}, 'Queue'), queueList, more),
      h('div', {}, itemPanel, empty)));

  // Keyboard shortcuts, off while typing and while a decision is on its way.
  const onKey = (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat || typing(e)) return;
    const action = KEYS[e.key];
    if (!action) return;
    if (!canDecide && (action === 'approve' || action === 'reject')) return;
    e.preventDefault();
    if (action === 'approve') approve();
    else if (action === 'reject') openReject(e.key);
    else if (action === 'next') move(1);
    else move(-1);
  };
  document.addEventListener('keydown', onKey);
  ctx.onLeave(() => document.removeEventListener('keydown', onKey));

  // load fetches one more page of the queue.
  async function load(first) {
    const res = await get(`/v1/reviews?${query(filter, { limit: PAGE, cursor: first ? '' : cursor })}`, { signal: ctx.signal });
    const list = res.reviews || [];
    items = first ? list : items.concat(list.filter((r) => !items.some((x) => x.id === r.id)));
    cursor = res.next_cursor || '';
    total = Number.isFinite(res.total) ? res.total : items.length;
    for (const r of list) {
      for (const n of r.failed || []) seenChecks.add(n);
      for (const c of (r.checks && r.checks.results) || []) if (c.verdict === 'fail') seenChecks.add(c.name);
    }
    fillChecks();
  }

  async function reload() {
    listErr.clear();
    await load(true);
    index = 0;
    show();
  }

  // ensure loads pages until index i is loaded or the queue ends.
  async function ensure(i) {
    while (i >= items.length && cursor) await load(false);
  }

  function show() {
    if (index >= items.length) index = Math.max(0, items.length - 1);
    const r = items[index];
    const queueFocused = queueList.contains(document.activeElement);
    queueList.replaceChildren(...items.map((it, i) => h('li', {},
      h('button', { type: 'button', class: 'queue-item', 'aria-current': i === index ? 'true' : false, dataset: { review: it.id }, onclick: () => { index = i; closeReject(); show(); } },
        h('b', {}, it.sku || it.image_id), ` ${it.output}`,
        h('span', { class: 'muted' }, (it.failed || []).length ? ` · ${it.failed.join(', ')}` : ` · ${it.state}`)))));
    if (queueFocused) { const cur = queueList.querySelector('[aria-current]'); if (cur) cur.focus(); }
    more.classList.toggle('hidden', !cursor);
    itemPanel.classList.toggle('hidden', !r);
    empty.classList.toggle('hidden', !!r);
    count.textContent = r ? `${index + 1} of ${Math.max(total, items.length)}` : '0 of 0';
    if (!r) { empty.querySelector('p').textContent = `No ${filter.state === 'all' ? '' : `${filter.state} `}rendition matches this filter.`; return; }
    itemPanel.dataset.review = r.id;
    title.textContent = `${r.sku || r.image_id} · ${r.output}`;
    stateBadge.replaceChildren(badge(r.state));
    const before = sameOrigin(r.before_url, originalContent(r.image_id));
    const after = sameOrigin(r.after_url, renditionContent(r.id));
    if (beforeImg.getAttribute('src') !== before) beforeImg.src = before;
    if (afterImg.getAttribute('src') !== after) afterImg.src = after;
    beforeImg.alt = `Original of ${r.sku || r.image_id}`;
    afterImg.alt = `Rendition ${r.output} of ${r.sku || r.image_id}`;
    afterCap.textContent = `After: ${r.output} (${r.width}×${r.height} ${r.format})`;
    const failed = new Set(r.failed || []);
    const fails = (c) => c.verdict === 'fail' || failed.has(c.name);
    const all = (r.checks && r.checks.results) || [];
    const results = [...all.filter(fails), ...all.filter((c) => !fails(c))];
    checksBody.replaceChildren(...results.map((c) => {
      const fail = fails(c);
      return h('tr', { class: fail ? 'fail' : '', dataset: { check: c.name, verdict: c.verdict || '' } },
        h('th', { scope: 'row' }, c.name, c.detail ? h('span', { class: 'detail' }, c.detail) : null),
        h('td', { class: 'num value' }, fmtValue(c.value)),
        h('td', { class: 'num rule' }, c.op ? `${c.op} ${fmtValue(c.threshold)}` : '–'),
        h('td', {}, h('span', { class: `badge ${fail ? 'bad' : (c.verdict === 'pass' ? 'ok' : '')}` }, c.verdict || (fail ? 'fail' : '–'))));
    }));
    checksTable.classList.toggle('hidden', results.length === 0);
    noChecks.classList.toggle('hidden', results.length > 0);
    facts.replaceChildren(kv([
      ['SKU', r.sku], ['Output', r.output], ['Size', `${r.width}×${r.height}`], ['Format', r.format],
      ['Image', h('a', { href: `#/images/${enc(r.image_id)}` }, r.image_id)],
      ['Rendition', h('code', {}, r.id)],
      ['Batch', r.batch_id ? h('a', { href: `#/batches/${enc(r.batch_id)}` }, r.batch_id) : ''],
      ['Scene', r.scene_id ? h('a', { href: `#/scenes/${enc(r.scene_id)}` }, r.scene_id) : ''],
      ['Reviewer', r.reviewer], ['Reason', r.reason], ['Decided', r.decided_at ? fmtTime(r.decided_at) : ''],
      ['Made', fmtTime(r.created_at)],
    ]));
    prevBtn.disabled = index === 0;
    nextBtn.disabled = index >= items.length - 1 && !cursor;
    approveBtn.disabled = false;
    rejectBtn.disabled = false;
    // Fetch the next item's pictures ahead, so "next" shows them at once.
    const n = items[index + 1];
    if (n) { new Image().src = sameOrigin(n.after_url, renditionContent(n.id)); new Image().src = sameOrigin(n.before_url, originalContent(n.image_id)); }
  }

  async function move(d) {
    if (working) return;
    const i = index + d;
    if (i < 0) return;
    working = true;
    actErr.clear();
    try {
      await ensure(i);
      if (i < items.length) { index = i; closeReject(); show(); }
    } catch (err) {
      if (err.name !== 'AbortError') actErr.show(err);
    } finally {
      working = false;
    }
  }

  // decided takes a decision's answer: the item leaves a list it no longer matches (and the
  // next one shows), or is updated in place and the queue moves on.
  async function decided(id, res, verb) {
    const updated = (res.reviews || []).find((x) => x.id === id);
    const state = updated ? updated.state : (verb === 'approve' ? 'approved' : 'rejected');
    const i = items.findIndex((x) => x.id === id);
    if (i < 0) return;
    if (filter.state !== 'all' && state !== filter.state) {
      items.splice(i, 1);
      total = Math.max(0, total - 1);
      if (i < index) index -= 1;
      await ensure(index); // show() steps back when the queue ended here
    } else {
      items[i] = updated || { ...items[i], state };
      if (index < items.length - 1 || cursor) { await ensure(index + 1); if (index + 1 < items.length) index += 1; }
    }
    show();
  }

  async function decide(verb, why) {
    const r = items[index];
    if (!r || working) return false;
    working = true;
    approveBtn.disabled = true;
    rejectBtn.disabled = true;
    actErr.clear();
    try {
      const body = { ids: [r.id], decision: verb };
      if (why) body.reason = why;
      const res = await post('/v1/reviews/decide', body, { signal: ctx.signal });
      await decided(r.id, res || {}, verb);
      actErr.note(`${verb === 'approve' ? 'Approved' : 'Rejected'} ${r.sku || r.image_id} · ${r.output}.`);
      return true;
    } catch (err) {
      if (err.name === 'AbortError') return false;
      actErr.show(err);
      return false;
    } finally {
      working = false;
      if (items[index]) { approveBtn.disabled = false; rejectBtn.disabled = false; }
    }
  }

  function approve() {
    if (!rejectForm.classList.contains('hidden')) closeReject();
    return decide('approve');
  }

  // openReject shows the reason field. Opened by a key, the field takes focus when that key
  // comes up, so the key's own character never lands in it.
  function openReject(byKey) {
    if (!items[index] || working) return;
    rejectForm.classList.remove('hidden');
    reason.value = '';
    reason.removeAttribute('aria-invalid');
    if (!byKey) { reason.focus(); return; }
    const up = (e) => {
      if (e.key !== byKey) return;
      document.removeEventListener('keyup', up);
      if (!rejectForm.classList.contains('hidden')) reason.focus();
    };
    document.addEventListener('keyup', up);
    ctx.onLeave(() => document.removeEventListener('keyup', up));
  }

  function closeReject(focusBack = true) {
    if (rejectForm.classList.contains('hidden')) return;
    const hadFocus = rejectForm.contains(document.activeElement);
    rejectForm.classList.add('hidden');
    reason.value = '';
    if (focusBack && hadFocus) rejectBtn.focus();
  }

  async function reject() {
    const why = reason.value.trim();
    if (!why) {
      reason.setAttribute('aria-invalid', 'true');
      actErr.show(new Error('give a reason for rejecting: it is required, and kept with the decision'));
      reason.focus();
      return;
    }
    reason.removeAttribute('aria-invalid');
    if (await decide('reject', why)) {
      closeReject(false);
      title.focus({ preventScroll: true });
    }
  }

  try {
    await reload();
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    itemPanel.classList.add('hidden');
    listErr.show(err.status === 404 ? new Error('this service has no review queue yet (GET /v1/reviews answered 404)') : err);
  }
}

// describe says a filter in words for the confirmation.
function describe(f) {
  const parts = [f.state === 'all' ? 'any state' : `state ${f.state}`];
  if (f.batch) parts.push(`batch ${f.batch}`);
  if (f.scene) parts.push(`scene ${f.scene}`);
  if (f.check) parts.push(`failing ${f.check}`);
  return parts.join(', ');
}
