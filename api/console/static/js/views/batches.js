// Batches: every batch with its progress, state, ETA and GPU-seconds; a form to create one
// from a manifest (CSV, JSONL or XLSX) and a recipe.
import { get, post, enc } from '../api.js';
import { h, clear, field, errorSlot, busy, progressBar, badge, fmtDuration, fmtNum, fmtTime } from '../dom.js';

// ACTIVE are the states in which a batch changes by itself.
export const ACTIVE = new Set(['running', 'trial']);

// finished counts the items that will not run again.
export function finished(b) {
  const c = b.counts || {};
  return (c.succeeded || 0) + (c.failed || 0) + (c.skipped || 0);
}

export function fraction(b) {
  if (b.state === 'done') return 1;
  return b.total ? finished(b) / b.total : 0;
}

export async function render(root, _params, ctx) {
  const tbody = h('tbody');
  const table = h('table', { 'aria-labelledby': 'list-h' },
    h('thead', {}, h('tr', {}, ['Name', 'State', 'Progress', 'Items', 'ETA', 'GPU-seconds', 'Created'].map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const empty = h('p', { class: 'muted hidden' }, 'No batches yet.');
  const listErr = errorSlot();
  const rows = new Map();

  function row(b) {
    let r = rows.get(b.id);
    if (!r) {
      const bar = progressBar(`Progress of ${b.name || b.id}`);
      r = {
        tr: h('tr', { dataset: { batch: b.id } }),
        name: h('td', {}, h('a', { href: `#/batches/${enc(b.id)}` }, b.name || b.id)),
        state: h('td'), bar, progress: h('td', { class: 'progress-cell' }, bar),
        items: h('td', { class: 'num' }), eta: h('td', { class: 'num' }), gpu: h('td', { class: 'num' }),
        created: h('td', { class: 'num' }, fmtTime(b.created_at)),
      };
      r.tr.append(r.name, r.state, r.progress, r.items, r.eta, r.gpu, r.created);
      rows.set(b.id, r);
    }
    r.state.replaceChildren(badge(b.state));
    r.bar.set(fraction(b));
    r.items.textContent = `${finished(b)} / ${b.total}`;
    r.eta.textContent = b.state === 'running' ? fmtDuration(b.eta_seconds) : '–';
    r.gpu.textContent = fmtNum(b.gpu_seconds, 1);
    return r.tr;
  }

  clear(root,
    h('h1', {}, 'Batches'),
    ctx.can('write') ? createForm(ctx) : null,
    h('section', { class: 'panel', 'aria-labelledby': 'list-h' }, h('h2', { id: 'list-h' }, 'All batches'), table, empty, listErr));

  ctx.every(2000, async () => {
    try {
      const res = await get('/v1/batches', { signal: ctx.signal });
      const list = res.batches || [];
      tbody.replaceChildren(...list.map(row));
      empty.classList.toggle('hidden', list.length > 0);
      listErr.clear();
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      listErr.show(err.status === 404 ? new Error('this service has no batches yet (GET /v1/batches answered 404)') : err);
    }
    return true;
  });
}

// createForm uploads a manifest with a recipe (a name or inline JSON) and an optional filter.
function createForm(ctx) {
  const name = h('input', { type: 'text', name: 'name', autocomplete: 'off', placeholder: 'spring-catalog-refresh' });
  const manifest = h('input', { type: 'file', name: 'manifest', required: true, accept: '.csv,.jsonl,.ndjson,.xlsx,text/csv,application/x-ndjson' });
  const recipe = h('textarea', { name: 'recipe', rows: '3', required: true, placeholder: 'listing-main  — or a recipe as JSON' });
  const filter = h('textarea', { name: 'filter', rows: '2', placeholder: '{"shorter_side_below": 800}' });
  const err = errorSlot();
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Create batch');
  return h('form', { class: 'panel', 'aria-labelledby': 'new-h', onsubmit: (e) => {
    e.preventDefault();
    busy(btn, err, async () => {
      if (!manifest.files.length) { manifest.focus(); throw new Error('choose a manifest file (CSV, JSONL or XLSX)'); }
      const fd = new FormData();
      if (name.value.trim()) fd.append('name', name.value.trim());
      fd.append('recipe', recipe.value.trim());
      if (filter.value.trim()) fd.append('filter', filter.value.trim());
      fd.append('manifest', manifest.files[0], manifest.files[0].name);
      const b = await post('/v1/batches', fd, { signal: ctx.signal });
      ctx.go(`#/batches/${enc(b.id)}`);
    });
  } },
  h('h2', { id: 'new-h' }, 'New batch'),
  h('div', { class: 'cols-2' },
    h('div', {}, field('Name', name, '(optional)'), field('Manifest', manifest, '(CSV, JSONL or XLSX; a url column, optional sku)')),
    h('div', {}, field('Recipe', recipe, '(a name, or JSON)'), field('Filter', filter, '(optional JSON: which rows need work)'))),
  h('div', { class: 'actions' }, btn), err);
}
