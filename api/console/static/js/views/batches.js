// Batches: every batch with its progress, state, ETA and GPU-seconds; a form to create one
// from a manifest (an uploaded CSV, JSONL or XLSX, or a URL re-read on a schedule) and a
// recipe, with per-row prompts and a delayed start. Batches over a selection of stored
// products are made in the Select products view.
import { get, post, enc } from '../api.js';
import { h, clear, field, errorSlot, busy, progressBar, badge, fmtDuration, fmtNum, fmtTime, id } from '../dom.js';
import { isoOf, parseVars, MAX_VARIANTS } from './select.js';

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
    r.state.replaceChildren(badge(b.state),
      b.start_at ? h('span', { class: 'muted sub' }, `starts ${fmtTime(b.start_at)}`) : null,
      b.schedule ? h('span', { class: 'muted sub' }, h('code', {}, b.schedule)) : null,
      b.refresh && b.refresh.failures ? h('span', { class: 'error-text sub' }, `${b.refresh.failures} failed re-read${b.refresh.failures === 1 ? '' : 's'}`) : null);
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

// createForm makes a batch from a manifest with a recipe (a name or inline JSON) and an
// optional filter: an uploaded file (multipart), or a URL (JSON) that a cron schedule may
// re-read for new rows. Both take a prompt template, its variables, variants and a start time.
function createForm(ctx) {
  const name = h('input', { type: 'text', name: 'name', autocomplete: 'off', placeholder: 'spring-catalog-refresh' });
  const srcName = id('source');
  const upload = h('input', { type: 'radio', name: srcName, value: 'upload', checked: true, id: id('src') });
  const byURL = h('input', { type: 'radio', name: srcName, value: 'url', id: id('src') });
  const manifest = h('input', { type: 'file', name: 'manifest', required: true, accept: '.csv,.jsonl,.ndjson,.xlsx,text/csv,application/x-ndjson' });
  const manifestURL = h('input', { type: 'url', name: 'manifest_url', placeholder: 'https://example.com/exports/catalog.csv' });
  const schedule = h('input', { type: 'text', name: 'schedule', autocomplete: 'off', spellcheck: 'false', placeholder: '0 6 * * *' });
  const recipe = h('textarea', { name: 'recipe', rows: '3', required: true, placeholder: 'listing-main  — or a recipe as JSON' });
  const filter = h('textarea', { name: 'filter', rows: '2', placeholder: '{"shorter_side_below": 800}' });
  const template = h('textarea', { name: 'prompt_template', rows: '2', placeholder: 'a {title} on a marble counter' });
  const vars = h('input', { type: 'text', name: 'prompt_vars', autocomplete: 'off', placeholder: 'title=product name' });
  const variants = h('input', { type: 'number', name: 'variants', min: '1', max: String(MAX_VARIANTS), step: '1', value: '1' });
  const startAt = h('input', { type: 'datetime-local', name: 'start_at' });
  const err = errorSlot();
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Create batch');
  const fileBox = h('div', {}, field('Manifest', manifest, '(CSV, JSONL or XLSX; a url or image_id column, optional sku; other columns are kept)'));
  const urlBox = h('div', { class: 'hidden' },
    field('Manifest URL', manifestURL),
    field('Schedule', schedule, '(optional cron, e.g. 0 6 * * * daily at 06:00 UTC: new rows run when due)'));
  const showSource = () => {
    const url = byURL.checked;
    fileBox.classList.toggle('hidden', url);
    urlBox.classList.toggle('hidden', !url);
    manifest.required = !url;
    manifestURL.required = url;
  };
  upload.addEventListener('change', showSource);
  byURL.addEventListener('change', showSource);

  // parseRecipe is a recipe name, or inline JSON when it starts with "{".
  const parseRecipe = (v) => {
    if (!v.startsWith('{')) return v;
    try { return JSON.parse(v); } catch (e) { throw new Error(`the recipe is not valid JSON: ${e.message}`); }
  };

  return h('form', { class: 'panel', 'aria-labelledby': 'new-h', onsubmit: (e) => {
    e.preventDefault();
    busy(btn, err, async () => {
      const n = variants.value.trim() === '' ? 1 : Number(variants.value);
      if (!(Number.isInteger(n) && n >= 1 && n <= MAX_VARIANTS)) { variants.focus(); throw new Error(`variants must be a whole number 1 to ${MAX_VARIANTS}`); }
      const pv = parseVars(vars.value);
      const at = isoOf(startAt.value);
      let b;
      if (byURL.checked) {
        if (!manifestURL.value.trim()) { manifestURL.focus(); throw new Error('give the manifest\u2019s URL'); }
        const body = { manifest_url: manifestURL.value.trim(), recipe: parseRecipe(recipe.value.trim()) };
        if (name.value.trim()) body.name = name.value.trim();
        if (schedule.value.trim()) body.schedule = schedule.value.trim();
        if (filter.value.trim()) {
          try { body.filter = JSON.parse(filter.value.trim()); } catch (e2) { filter.focus(); throw new Error(`the filter is not valid JSON: ${e2.message}`); }
        }
        if (template.value.trim()) body.prompt_template = template.value.trim();
        if (Object.keys(pv).length) body.prompt_vars = pv;
        if (n !== 1) body.variants = n;
        if (at) body.start_at = at;
        b = await post('/v1/batches', body, { signal: ctx.signal });
      } else {
        if (!manifest.files.length) { manifest.focus(); throw new Error('choose a manifest file (CSV, JSONL or XLSX)'); }
        const fd = new FormData();
        if (name.value.trim()) fd.append('name', name.value.trim());
        fd.append('recipe', recipe.value.trim());
        if (filter.value.trim()) fd.append('filter', filter.value.trim());
        if (template.value.trim()) fd.append('prompt_template', template.value.trim());
        if (Object.keys(pv).length) fd.append('prompt_vars', JSON.stringify(pv));
        if (n !== 1) fd.append('variants', String(n));
        if (at) fd.append('start_at', at);
        fd.append('manifest', manifest.files[0], manifest.files[0].name);
        b = await post('/v1/batches', fd, { signal: ctx.signal });
      }
      ctx.go(`#/batches/${enc(b.id)}`);
    });
  } },
  h('div', { class: 'spread' }, h('h2', { id: 'new-h' }, 'New batch from a manifest'),
    h('a', { href: '#/select' }, 'Or select products from the catalog')),
  h('div', { class: 'cols-2' },
    h('div', {},
      field('Name', name, '(optional)'),
      h('fieldset', { class: 'choice' }, h('legend', {}, 'Manifest'),
        h('div', { class: 'check' }, upload, h('label', { for: upload.id }, 'Upload a file')),
        h('div', { class: 'check' }, byURL, h('label', { for: byURL.id }, 'Read it from a URL (and re-read it on a schedule)'))),
      fileBox, urlBox),
    h('div', {}, field('Recipe', recipe, '(a name, or JSON)'), field('Filter', filter, '(optional JSON: which rows need work)'))),
  h('details', { class: 'more' }, h('summary', {}, 'Per-row prompts and a delayed start'),
    h('div', { class: 'cols-2' },
      h('div', {}, field('Prompt template', template, '({variables} from each row\u2019s columns)'),
        field('Variables from columns', vars, '(variable=column, …; optional)')),
      h('div', {}, field('Variants per row', variants, '(1–8)'),
        field('Start at', startAt, '(optional; AI recipes are trialled first)')))),
  h('div', { class: 'actions' }, btn), err);
}
