// Select products: a builder for a selection over the stored images (SKUs, metadata, size,
// quality report, ingest time, renditions), its live count and a sample from
// POST /v1/images/select, and a batch made from it: with a recipe, or, opened from an
// approved scene ("#/select?scene=ID"), with that scene's prompt, seed and settings.
import { get, post, enc } from '../api.js';
import { h, clear, field, errorSlot, busy, fmtNum, fmtTime, id } from '../dom.js';
import { originalContent, renditionContent } from './image.js';

// DEBOUNCE is how long the builder waits after the last change before it counts.
const DEBOUNCE = 250;
const SAMPLE = 12;
export const MAX_VARIANTS = 8;

const FORMATS = ['jpeg', 'png', 'webp', 'avif', 'gif', 'tiff', 'heif'];

// words splits a list typed by a person: commas, spaces or new lines.
const words = (s) => String(s || '').split(/[\s,]+/).map((w) => w.trim()).filter(Boolean);

// num reads a number input: undefined when empty.
function num(input) {
  if (input.value.trim() === '') return undefined;
  const v = Number(input.value);
  return Number.isFinite(v) ? v : undefined;
}

// range is {min, max} from two optional numbers, or undefined with neither.
function range(min, max) {
  if (min === undefined && max === undefined) return undefined;
  const r = {};
  if (min !== undefined) r.min = min;
  if (max !== undefined) r.max = max;
  return r;
}

// isoOf turns a datetime-local value (the browser's time zone) into RFC 3339, '' when empty.
export function isoOf(local) {
  if (!local) return '';
  const d = new Date(local);
  return isNaN(d) ? '' : d.toISOString();
}

// localOf is the datetime-local value of a time (for defaults): minutes, local zone.
export function localOf(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// parseVars reads "product=title, colour=color" into {product: "title", colour: "color"}.
export function parseVars(text) {
  const out = {};
  for (const part of String(text || '').split(/[,\n]+/)) {
    if (!part.trim()) continue;
    const m = part.match(/^\s*\{?([a-z_]+)\}?\s*(?:=|:|<-|←)\s*(.+?)\s*$/);
    if (!m) throw new Error(`prompt variables: "${part.trim()}" is not variable=column (e.g. product=title)`);
    out[m[1]] = m[2];
  }
  return out;
}

// describeSelection says a selection in a line, for the batch page.
export function describeSelection(sel) {
  if (!sel || typeof sel !== 'object') return '';
  const parts = [];
  const rng = (name, r, unit = '') => {
    if (!r) return;
    if (r.min !== undefined && r.max !== undefined) parts.push(`${name} ${r.min}–${r.max}${unit}`);
    else if (r.min !== undefined) parts.push(`${name} ≥ ${r.min}${unit}`);
    else if (r.max !== undefined) parts.push(`${name} ≤ ${r.max}${unit}`);
  };
  if ((sel.ids || []).length) parts.push(`${sel.ids.length} image id${sel.ids.length === 1 ? '' : 's'}`);
  if ((sel.skus || []).length) parts.push(`SKU ${sel.skus.slice(0, 5).join(', ')}${sel.skus.length > 5 ? ` and ${sel.skus.length - 5} more` : ''}`);
  if (sel.sku_prefix) parts.push(`SKU starts with ${sel.sku_prefix}`);
  for (const [k, vs] of Object.entries(sel.meta || {})) parts.push(`${k} = ${[].concat(vs).join(' or ')}`);
  for (const [k, r] of Object.entries(sel.meta_range || {})) rng(k, r);
  for (const k of sel.meta_missing || []) parts.push(`no ${k}`);
  rng('width', sel.width, ' px'); rng('height', sel.height, ' px');
  rng('longer side', sel.longer_side, ' px'); rng('shorter side', sel.shorter_side, ' px');
  rng('bytes', sel.bytes); rng('sharpness', sel.sharpness); rng('JPEG quality', sel.jpeg_quality);
  if (sel.plain_background !== undefined) parts.push(sel.plain_background ? 'plain background' : 'no plain background');
  if (sel.has_alpha !== undefined) parts.push(sel.has_alpha ? 'with alpha' : 'without alpha');
  if ((sel.formats || []).length) parts.push(`format ${sel.formats.join(' or ')}`);
  if (sel.ingested_after) parts.push(`ingested from ${fmtTime(sel.ingested_after)}`);
  if (sel.ingested_before) parts.push(`ingested before ${fmtTime(sel.ingested_before)}`);
  if (sel.has_rendition) parts.push(`has a ${sel.has_rendition} rendition`);
  if (sel.lacks_rendition) parts.push(`no ${sel.lacks_rendition} rendition`);
  return parts.length ? parts.join('; ') : 'every stored image';
}

const tri = (name) => h('select', { name },
  h('option', { value: '' }, 'Any'), h('option', { value: 'true' }, 'Yes'), h('option', { value: 'false' }, 'No'));

export async function render(root, _params, ctx, hash) {
  const q = new URLSearchParams((hash || '').split('?')[1] || '');
  const sceneID = q.get('scene') || '';
  const [recipesRes, scene] = await Promise.all([
    get('/v1/recipes', { signal: ctx.signal }).catch((err) => {
      if (err.name === 'AbortError') throw err;
      return { recipes: [], error: err };
    }),
    sceneID ? get(`/v1/scenes/${enc(sceneID)}`, { signal: ctx.signal }) : null,
  ]);
  const recipes = (recipesRes.recipes || []).map((r) => r.name);
  const recipeOptions = (blank) => [h('option', { value: '' }, blank), recipes.map((n) => h('option', { value: n }, n))];

  // The builder.
  const skuPrefix = h('input', { type: 'text', name: 'sku_prefix', autocomplete: 'off', placeholder: 'e.g. MUG-' });
  const skus = h('textarea', { name: 'skus', rows: '2', placeholder: 'MUG-042, MUG-043 (commas, spaces or lines)' });
  const metaRows = h('div', { class: 'meta-rows' });
  const addMeta = h('button', { type: 'button', class: 'small', dataset: { action: 'add-meta' } }, 'Add a metadata condition');
  const rangeKey = h('input', { type: 'text', name: 'meta_range_key', autocomplete: 'off', placeholder: 'price' });
  const rangeMin = h('input', { type: 'number', name: 'meta_range_min', step: 'any' });
  const rangeMax = h('input', { type: 'number', name: 'meta_range_max', step: 'any' });
  const missing = h('input', { type: 'text', name: 'meta_missing', autocomplete: 'off', placeholder: 'e.g. brand' });
  const shorterMax = h('input', { type: 'number', name: 'shorter_side_max', min: '1', step: '1', placeholder: '800' });
  const longerMin = h('input', { type: 'number', name: 'longer_side_min', min: '1', step: '1' });
  const sharpMax = h('input', { type: 'number', name: 'sharpness_max', min: '0', step: 'any' });
  const jpegMax = h('input', { type: 'number', name: 'jpeg_quality_max', min: '1', max: '100', step: '1' });
  const plain = tri('plain_background');
  const alpha = tri('has_alpha');
  const format = h('select', { name: 'format' }, h('option', { value: '' }, 'Any'), FORMATS.map((f) => h('option', { value: f }, f)));
  const hasR = h('select', { name: 'has_rendition' }, recipeOptions('Any'));
  const lacksR = h('select', { name: 'lacks_rendition' }, recipeOptions('Any'));
  const after = h('input', { type: 'datetime-local', name: 'ingested_after' });
  const before = h('input', { type: 'datetime-local', name: 'ingested_before' });

  function metaRow(k = '', v = '') {
    const key = h('input', { type: 'text', name: 'meta_key', autocomplete: 'off', placeholder: 'category', value: k });
    const val = h('input', { type: 'text', name: 'meta_value', autocomplete: 'off', placeholder: 'mugs', value: v });
    const remove = h('button', { type: 'button', class: 'small' }, 'Remove');
    const row = h('div', { class: 'meta-row' }, key, h('span', { 'aria-hidden': 'true' }, '='), val, remove);
    remove.addEventListener('click', () => {
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      if (!metaRows.children.length) metaRow();
      numberRows();
      (next || metaRows.firstElementChild).querySelector('input').focus();
      changed();
    });
    metaRows.append(row);
    numberRows();
    return row;
  }
  // numberRows names each row's controls by its place, for screen readers.
  function numberRows() {
    [...metaRows.children].forEach((row, i) => {
      const [key, val] = row.querySelectorAll('input');
      key.setAttribute('aria-label', `Metadata key ${i + 1}`);
      val.setAttribute('aria-label', `Metadata value ${i + 1}`);
      row.querySelector('button').setAttribute('aria-label', `Remove metadata condition ${i + 1}`);
    });
  }
  metaRow();
  addMeta.addEventListener('click', () => { metaRow().querySelector('input').focus(); });

  // selection reads the builder into the API's selection object.
  function selection() {
    const sel = {};
    if (skuPrefix.value.trim()) sel.sku_prefix = skuPrefix.value.trim();
    const list = words(skus.value);
    if (list.length) sel.skus = list;
    for (const row of metaRows.children) {
      const [k, v] = [...row.querySelectorAll('input')].map((i) => i.value.trim());
      if (!k || !v) continue;
      sel.meta = sel.meta || {};
      sel.meta[k] = [...(sel.meta[k] || []), v];
    }
    const mr = range(num(rangeMin), num(rangeMax));
    if (rangeKey.value.trim() && mr) sel.meta_range = { [rangeKey.value.trim()]: mr };
    const miss = words(missing.value);
    if (miss.length) sel.meta_missing = miss;
    const ss = range(undefined, num(shorterMax));
    if (ss) sel.shorter_side = ss;
    const ls = range(num(longerMin), undefined);
    if (ls) sel.longer_side = ls;
    const sh = range(undefined, num(sharpMax));
    if (sh) sel.sharpness = sh;
    const jq = range(undefined, num(jpegMax));
    if (jq) sel.jpeg_quality = jq;
    if (plain.value) sel.plain_background = plain.value === 'true';
    if (alpha.value) sel.has_alpha = alpha.value === 'true';
    if (format.value) sel.formats = [format.value];
    if (hasR.value) sel.has_rendition = hasR.value;
    if (lacksR.value) sel.lacks_rendition = lacksR.value;
    if (isoOf(after.value)) sel.ingested_after = isoOf(after.value);
    if (isoOf(before.value)) sel.ingested_before = isoOf(before.value);
    return sel;
  }

  const builder = h('form', { class: 'panel selection', 'aria-labelledby': 'sel-h', onsubmit: (e) => { e.preventDefault(); count(); } },
    h('h2', { id: 'sel-h' }, 'Which products'),
    h('p', { class: 'muted' }, 'Every condition must hold; the count and sample follow as you type.'),
    h('div', { class: 'cols-2' }, field('SKU prefix', skuPrefix), field('SKUs', skus, '(exact)')),
    h('fieldset', {}, h('legend', {}, 'Metadata is'), metaRows, h('div', { class: 'actions' }, addMeta),
      h('p', { class: 'hint muted' }, 'Columns of earlier manifests, or set with PATCH /v1/images/{id}/meta. Two values of one key: either matches.')),
    h('fieldset', {}, h('legend', {}, 'Numeric metadata'),
      h('div', { class: 'cols-3 tight' }, field('Key', rangeKey), field('From', rangeMin), field('To', rangeMax))),
    field('Without metadata', missing, '(keys the image must not have)'),
    h('fieldset', {}, h('legend', {}, 'Size and quality'),
      h('div', { class: 'cols-2' },
        field('Shorter side at most', shorterMax, '(px)'), field('Longer side at least', longerMin, '(px)'),
        field('Sharpness at most', sharpMax), field('JPEG quality at most', jpegMax),
        field('Plain background', plain), field('Alpha channel', alpha), field('Format', format))),
    h('fieldset', {}, h('legend', {}, 'Renditions'),
      h('div', { class: 'cols-2' }, field('Has a rendition of', hasR), field('Lacks a rendition of', lacksR)),
      recipesRes.error ? h('p', { class: 'error' }, `Recipes could not be listed: ${recipesRes.error.message}`)
        : (recipes.length ? null : h('p', { class: 'muted' }, 'No stored recipes yet (PUT /v1/recipes/{name}).'))),
    h('fieldset', {}, h('legend', {}, 'Ingested'),
      h('div', { class: 'cols-2' }, field('From', after), field('Before', before))),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Count now')));

  // The live count and the sample.
  const countLine = h('p', { class: 'sel-count num', id: 'sel-count', 'aria-live': 'polite', dataset: { count: '' } }, 'Counting…');
  const unmeasured = h('p', { class: 'muted sel-unmeasured' });
  const countErr = errorSlot();
  countErr.id = 'sel-error';
  const grid = h('ul', { class: 'grid sample', 'aria-label': 'Sample of the matching products' });

  let timer = null;
  let inflight = null;
  let seq = 0;
  let last = null; // the last preview: {count, unmeasured, sample}
  ctx.onLeave(() => { clearTimeout(timer); if (inflight) inflight.abort(); });

  function changed() {
    clearTimeout(timer);
    countLine.classList.add('stale');
    timer = setTimeout(count, DEBOUNCE);
  }
  builder.addEventListener('input', changed);
  builder.addEventListener('change', changed);

  async function count() {
    clearTimeout(timer);
    if (inflight) inflight.abort();
    const ac = new AbortController();
    inflight = ac;
    const mine = ++seq;
    const sel = selection();
    try {
      const res = await post('/v1/images/select', { selection: sel, sample: SAMPLE }, { signal: ac.signal });
      if (mine !== seq || ctx.signal.aborted) return;
      last = res;
      countErr.clear();
      showCount(res, sel);
    } catch (err) {
      if (err.name === 'AbortError' || mine !== seq || ctx.signal.aborted) return;
      if (err.status === 429) { timer = setTimeout(count, (err.retryAfter || 1) * 1000); return; }
      last = null;
      countLine.textContent = 'No count: fix the selection.';
      countLine.dataset.count = '';
      countLine.classList.remove('stale');
      countErr.show(err);
    } finally {
      if (inflight === ac) inflight = null;
    }
  }

  function showCount(res, sel) {
    countLine.classList.remove('stale');
    countLine.dataset.count = String(res.count);
    countLine.dataset.selection = JSON.stringify(sel);
    countLine.textContent = `${fmtNum(res.count, 0)} product image${res.count === 1 ? '' : 's'} match`;
    unmeasured.textContent = res.unmeasured
      ? `${fmtNum(res.unmeasured, 0)} more match the rest but have no quality report, so the quality conditions leave them out.` : '';
    grid.replaceChildren(...(res.sample || []).map(sampleCard));
    createBtn.disabled = res.count === 0 || !ctx.can('write') || blocked;
  }

  // The batch.
  const name = h('input', { type: 'text', name: 'name', autocomplete: 'off', placeholder: scene ? 'kitchen scene for mugs' : 'white backgrounds for small images' });
  const recipe = h('select', { name: 'recipe', required: !scene }, recipeOptions('Choose a recipe'));
  const review = h('select', { name: 'review' },
    h('option', { value: '' }, scene ? `As the scene (${scene.review || 'default'})` : 'Default (failed checks for AI recipes)'),
    h('option', { value: 'none' }, 'None'), h('option', { value: 'failed' }, 'Outputs that fail a check'), h('option', { value: 'all' }, 'Every output'));
  const minAcc = h('input', { type: 'number', name: 'min_accuracy', min: '0', max: '100', step: '1', placeholder: '95' });
  const template = h('textarea', { name: 'prompt_template', rows: '2', placeholder: 'a {category} on a sunlit oak table' });
  const vars = h('input', { type: 'text', name: 'prompt_vars', autocomplete: 'off', placeholder: 'product=title' });
  const variants = h('input', { type: 'number', name: 'variants', min: '1', max: String(MAX_VARIANTS), step: '1', value: '1' });
  const startAt = h('input', { type: 'datetime-local', name: 'start_at' });
  const force = h('input', { type: 'checkbox', name: 'start_force', id: id('force') });
  const createErr = errorSlot();
  const createBtn = h('button', { type: 'submit', class: 'primary', disabled: true }, scene ? 'Create batch from the scene' : 'Create batch');

  let blocked = false;
  let sceneBox = null;
  if (scene) {
    const v = scene.approved_variant;
    const chosen = (scene.results || []).find((r) => r.index === v);
    blocked = v === undefined || v === null;
    if (blocked) createErr.show(new Error(`scene ${scene.id} has no approved variant: approve one in the scene studio first`));
    sceneBox = h('div', { class: 'scene-source', dataset: { scene: scene.id } },
      chosen ? h('div', { class: 'frame small' }, h('img', { src: renditionContent(chosen.rendition.id), alt: `The approved variant of scene ${scene.id}` })) : null,
      h('div', {},
        h('p', {}, 'The recipe is the scene\u2019s: ', h('a', { href: `#/scenes/${enc(scene.id)}` }, h('code', {}, scene.id)),
          chosen ? `, variant ${chosen.index + 1} (seed ${chosen.seed})` : ''),
        scene.prompt ? h('p', { class: 'muted' }, `\u201c${scene.prompt}\u201d`) : null,
        h('p', { class: 'muted' }, `Strength ${fmtNum(scene.strength, 2)}${scene.steps ? `, ${scene.steps} steps` : ''}. The batch trials a sample first, as any AI batch.`)));
  }

  const create = h('form', { class: 'panel', 'aria-labelledby': 'mk-h', onsubmit: (e) => {
    e.preventDefault();
    busy(createBtn, createErr, async () => {
      const body = { selection: selection() };
      if (name.value.trim()) body.name = name.value.trim();
      if (scene) body.from_scene = scene.id;
      else {
        if (!recipe.value) { recipe.focus(); throw new Error('choose a recipe'); }
        body.recipe = recipe.value;
      }
      if (review.value) body.review = review.value;
      const acc = num(minAcc);
      if (acc !== undefined) body.min_accuracy = acc / 100;
      if (template.value.trim()) body.prompt_template = template.value.trim();
      const pv = parseVars(vars.value);
      if (Object.keys(pv).length) body.prompt_vars = pv;
      const n = num(variants);
      if (n !== undefined && n !== 1) body.variants = n;
      if (startAt.value) {
        body.start_at = isoOf(startAt.value);
        if (force.checked) body.start_force = true;
      }
      const b = await post('/v1/batches', body, { signal: ctx.signal });
      ctx.go(`#/batches/${enc(b.id)}`);
    }).then(() => { createBtn.disabled = blocked || (last && last.count === 0); });
  } },
  h('h2', { id: 'mk-h' }, scene ? 'Apply the scene to these products' : 'Make a batch of them'),
  sceneBox,
  h('div', { class: 'cols-2' },
    field('Name', name, '(optional)'),
    scene ? null : field('Recipe', recipe),
    field('Review', review),
    field('Minimum trial accuracy', minAcc, '(%, default 95)')),
  h('fieldset', {}, h('legend', {}, 'Per-product prompts (optional)'),
    field('Prompt template', template, '({variables} from each product\u2019s metadata; {sku} is its SKU)'),
    h('div', { class: 'cols-2' }, field('Variables from columns', vars, '(variable=column, …)'), field('Variants per product', variants, '(1–8)'))),
  h('fieldset', {}, h('legend', {}, 'Start'),
    field('Start at', startAt, '(optional: blank waits for Start on the batch page)'),
    h('div', { class: 'check' }, force, h('label', { for: force.id }, 'Start even if the trial is below the minimum accuracy'))),
  h('div', { class: 'actions' }, createBtn), createErr);

  clear(root,
    h('div', { class: 'spread page-head' },
      h('h1', {}, scene ? 'Apply a scene to products' : 'Select products'),
      scene ? h('a', { href: `#/scenes/${enc(scene.id)}` }, 'Back to the scene') : h('a', { href: '#/batches' }, 'Batches')),
    h('div', { class: 'cols select-cols' },
      builder,
      h('div', {},
        h('section', { class: 'panel', 'aria-labelledby': 'match-h' },
          h('h2', { id: 'match-h' }, 'Matches'), countLine, unmeasured, countErr, grid),
        ctx.can('write') ? create : null)));
  await count();
}

// sampleCard is one matching image: its original, SKU, size and a few metadata values.
function sampleCard(img) {
  const meta = Object.entries(img.meta || {}).slice(0, 3).map(([k, v]) => `${k}: ${v}`).join(' · ');
  return h('li', { class: 'card', dataset: { image: img.id } },
    h('a', { href: `#/images/${enc(img.id)}` },
      h('div', { class: 'thumb' }, h('img', { src: originalContent(img.id), alt: `Image ${img.sku || img.id}`, loading: 'lazy', decoding: 'async' })),
      h('div', { class: 'meta' },
        h('b', {}, img.sku || img.id),
        h('span', { class: 'muted num' }, `${img.width}×${img.height} · ${img.format}`),
        meta ? h('span', { class: 'muted' }, meta) : null)));
}
