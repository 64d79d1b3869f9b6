// Scene studio: a prompt (or a template with its variables), N variants, strength and
// seed; a live progress bar and the backend's preview from the scene's event stream; the
// variants in a grid, each comparable with the original on a before/after slider;
// approve one, or cancel. Re-running with a variant's seed reproduces it.
import { get, post, enc } from '../api.js';
import { h, clear, field, errorSlot, busy, progressBar, badge, fmtDuration, fmtNum, swapImage, id, checksLine } from '../dom.js';
import { compare } from '../compare.js';
import { renditionContent, originalContent } from './image.js';

const VAR_RE = /\{([a-z_]+)\}/g;
const MAX_VARIANTS = 8;

export async function render(root, params, ctx, hash) {
  const isScene = hash.startsWith('#/scenes/');
  let scene = null;
  let imageID = params[0];
  if (isScene) {
    scene = await get(`/v1/scenes/${enc(params[0])}`, { signal: ctx.signal });
    imageID = scene.image_id;
  }
  const [img, tpls] = await Promise.all([
    get(`/v1/images/${enc(imageID)}`, { signal: ctx.signal }),
    get('/v1/templates', { signal: ctx.signal }).catch((err) => {
      if (err.name === 'AbortError') throw err;
      return { templates: [] };
    }),
  ]);
  const ratio = img.width && img.height ? img.width / img.height : 4 / 3;
  const templates = tpls.templates || [];

  const form = sceneForm(img, templates, scene, ctx);
  // Apply to products: a batch over a selection with this scene's prompt, seed and
  // settings; offered once a variant is approved.
  const apply = h('a', { class: 'button hidden', dataset: { action: 'apply' }, title: 'Make a batch from this scene’s approved variant for products you select' }, 'Apply to products…');
  const run = runPanel(img, ratio, ctx, form, (sc) => {
    const on = !!sc && sc.approved_variant !== undefined && sc.approved_variant !== null && ctx.can('write');
    apply.classList.toggle('hidden', !on);
    if (on) apply.href = `#/select?scene=${enc(sc.id)}`;
  });

  clear(root,
    h('div', { class: 'spread' },
      h('h1', {}, 'Scene studio'),
      h('div', { class: 'row' }, apply, h('a', { href: `#/images/${enc(img.id)}` }, `Back to ${img.sku || img.id}`))),
    h('div', { class: 'cols' }, form.el, run.el));

  if (scene) run.follow(scene);
}

// sceneForm is the request: template or prompt, negative prompt, variants, strength, seed.
function sceneForm(img, templates, scene, ctx) {
  const tplSelect = h('select', { name: 'template' },
    h('option', { value: '' }, 'Write my own prompt'),
    templates.map((t) => h('option', { value: t.name }, t.name)));
  const tplText = h('p', { class: 'muted' });
  const vars = h('fieldset', { class: 'hidden' }, h('legend', {}, 'Template variables'));
  const prompt = h('textarea', { name: 'prompt', rows: '3', placeholder: 'a sunlit oak table in a Scandinavian kitchen, soft morning light' });
  const promptField = field('Prompt', prompt);
  const negative = h('textarea', { name: 'negative_prompt', rows: '2', placeholder: 'blurry, text, watermark' });
  const variants = h('input', { type: 'number', name: 'variants', min: '1', max: String(MAX_VARIANTS), step: '1', value: '4', required: true });
  const strength = h('input', { type: 'range', id: id('strength'), name: 'strength', min: '0.05', max: '1', step: '0.05', value: '0.9' });
  const strengthOut = h('output', { class: 'num' }, '0.90');
  strength.addEventListener('input', () => { strengthOut.textContent = Number(strength.value).toFixed(2); });
  const seed = h('input', { type: 'number', name: 'seed', min: '0', max: '4294967295', step: '1', placeholder: 'random' });
  const start = h('button', { type: 'submit', class: 'primary' }, 'Start');
  const err = errorSlot();

  const varInputs = new Map();
  function showTemplate() {
    const t = templates.find((x) => x.name === tplSelect.value);
    vars.replaceChildren(h('legend', {}, 'Template variables'));
    varInputs.clear();
    promptField.classList.toggle('hidden', !!t);
    if (!t) { tplText.textContent = ''; vars.classList.add('hidden'); return; }
    tplText.textContent = t.prompt;
    negative.placeholder = t.negative_prompt || '';
    const names = [...new Set([...`${t.prompt} ${t.negative_prompt || ''}`.matchAll(VAR_RE)].map((m) => m[1]))];
    for (const n of names) {
      const inp = h('input', { type: 'text', name: `var_${n}`, required: true, autocomplete: 'off' });
      varInputs.set(n, inp);
      vars.append(field(n.replace(/_/g, ' '), inp));
    }
    vars.classList.toggle('hidden', names.length === 0);
  }
  tplSelect.addEventListener('change', showTemplate);

  if (scene) { // a scene's settings, ready to run again
    prompt.value = scene.prompt || '';
    negative.value = scene.negative_prompt || '';
    variants.value = String(scene.variants || 4);
    strength.value = String(scene.strength || 0.9);
    strengthOut.textContent = Number(strength.value).toFixed(2);
    seed.value = String(scene.seed);
  }

  const api = {};
  const el = h('form', { class: 'panel', 'aria-labelledby': 'studio-form-h', onsubmit: (e) => {
    e.preventDefault();
    busy(start, err, async () => {
      const body = {
        variants: Number(variants.value),
        strength: Number(strength.value),
      };
      if (!(body.variants >= 1 && body.variants <= MAX_VARIANTS)) throw new Error(`variants must be 1 to ${MAX_VARIANTS}`);
      if (tplSelect.value) {
        body.template = tplSelect.value;
        body.variables = Object.fromEntries([...varInputs].map(([k, inp]) => [k, inp.value]));
      } else {
        if (!prompt.value.trim()) { prompt.focus(); throw new Error('write a prompt, or pick a template'); }
        body.prompt = prompt.value.trim();
      }
      if (negative.value.trim()) body.negative_prompt = negative.value.trim();
      if (seed.value !== '') body.seed = Number(seed.value);
      const sc = await post(`/v1/images/${enc(img.id)}/scenes`, body, { signal: ctx.signal });
      ctx.go(`#/scenes/${enc(sc.id)}`);
    });
  } },
  h('h2', { id: 'studio-form-h' }, scene ? 'Run again' : 'New scene'),
  h('p', { class: 'muted' }, 'A new background around the product, in as many variants as you like; the product\u2019s own pixels never change.'),
  templates.length ? field('Prompt template', tplSelect) : null, tplText, vars,
  promptField,
  field('Negative prompt', negative, '(optional)'),
  h('div', { class: 'cols-2' },
    field('Variants', variants, '(1–8)'),
    field('Seed', seed, '(blank: random)')),
  h('div', {}, h('label', { for: strength.id }, 'Strength ', strengthOut, h('span', { class: 'hint' }, ' how far the background may move from the original')), strength),
  h('div', { class: 'actions' }, start), err);

  // useSeed fills the form to reproduce one variant: its seed, one variant.
  api.useSeed = (s) => {
    seed.value = String(s);
    variants.value = '1';
    seed.focus();
  };
  api.el = el;
  return api;
}

// runPanel follows a scene: state, progress, ETA, then the variants as they finish, and
// one picture box that shows the backend's live preview while the scene runs and the
// before/after comparison of the chosen variant once it is done. Every box is sized from
// the start, so nothing moves while progress arrives.
function runPanel(img, ratio, ctx, form, onApproved) {
  const state = h('span', {}, badge('not started'));
  const bar = progressBar('Scene progress');
  const eta = h('span', {}, 'ETA ', h('b', {}, '–'));
  const done = h('span', {}, 'Variants ', h('b', {}, '–'));
  const gpu = h('span', {}, 'GPU ', h('b', {}, '–'));
  const stats = h('div', { class: 'stats' }, eta, done, gpu);
  const preview = h('img', { src: originalContent(img.id), alt: 'Live preview from the backend' });
  const stage = h('div', { class: 'stage' }, preview);
  stage.style.aspectRatio = String(ratio);
  const stageCaption = h('p', { class: 'caption muted' }, 'The original. Start a scene to see the backend\u2019s live preview here.');
  const view = h('div', { class: 'view-box' }, stage, stageCaption);
  view.style.maxWidth = `calc(40vh * ${ratio})`; // at most 40% of the screen's height
  const cancel = h('button', { type: 'button', class: 'danger', disabled: true }, 'Cancel');
  const cancelErr = errorSlot();
  const grid = h('ul', { class: 'variants', 'aria-label': 'Variants' });
  const approveErr = errorSlot();
  const el = h('section', { class: 'panel run', 'aria-labelledby': 'run-h' },
    h('div', { class: 'spread' }, h('h2', { id: 'run-h' }, 'Run'), h('div', { class: 'row' }, state, cancel)),
    bar, stats, cancelErr,
    grid, approveErr,
    view);

  let sc = null;
  let selected = null;
  let cmp = null;
  const slots = new Map(); // index -> slot element

  function slot(index) {
    if (slots.has(index)) return slots.get(index);
    const n = index + 1;
    const pic = h('img', { alt: '' });
    const frame = h('button', { type: 'button', class: 'frame', disabled: true, 'aria-label': `Compare variant ${n} with the original` }, pic);
    const seedText = h('span', { class: 'muted num' }, 'waiting');
    let checks = h('p', { class: 'checks-line' }); // sized from the start: nothing moves when it fills
    const approveBtn = h('button', { type: 'button', class: 'primary', disabled: true, 'aria-label': `Approve variant ${n}` }, 'Approve');
    const seedBtn = h('button', { type: 'button', disabled: true, 'aria-label': `Run again with variant ${n}'s seed`, title: 'Fill the form with this seed and one variant: it reproduces this variant' }, 'Use seed');
    const li = h('li', { class: 'variant', dataset: { index: String(index) } }, frame,
      h('div', { class: 'spread' }, h('b', { class: 'num' }, `Variant ${n}`), seedText),
      checks,
      h('div', { class: 'row' }, approveBtn, seedBtn));
    li.fill = (v) => {
      pic.src = renditionContent(v.rendition.id);
      pic.alt = `Variant ${n}, seed ${v.seed}`;
      seedText.textContent = `seed ${v.seed}`;
      const line = checksLine(v.rendition, `#/reviews?scene=${enc(sc.id)}`) || h('p', { class: 'checks-line', dataset: { checks: 'none' } });
      checks.replaceWith(line);
      checks = line;
      li.dataset.rendition = v.rendition.id;
      li.dataset.seed = String(v.seed);
      frame.disabled = false;
      seedBtn.disabled = false;
      approveBtn.disabled = !ctx.can('write');
      frame.onclick = () => select(index, v, true);
      seedBtn.onclick = () => form.useSeed(v.seed);
      approveBtn.onclick = () => busy(approveBtn, approveErr, async () => {
        const res = await post(`/v1/scenes/${enc(sc.id)}/approve`, { variant: index }, { signal: ctx.signal });
        sc = res;
        markApproved();
        approveErr.note(`Variant ${n} is now the image's scene rendition.`);
      });
    };
    grid.append(li);
    slots.set(index, li);
    return li;
  }

  // select shows variant index against the original in the picture box.
  function select(index, v, focus) {
    selected = index;
    for (const [k, li] of slots) li.classList.toggle('selected', k === index);
    const src = renditionContent(v.rendition.id);
    if (!cmp) {
      cmp = compare(originalContent(img.id), src, { ratio, afterLabel: `Variant ${index + 1}` });
      view.replaceChildren(cmp);
    } else {
      cmp.setAfter(src, `Variant ${index + 1}`);
    }
    if (focus) cmp.range.focus();
  }

  function markApproved() {
    if (onApproved) onApproved(sc);
    for (const [k, li] of slots) {
      const on = sc && sc.approved_variant === k;
      li.classList.toggle('approved', on);
      const b = li.querySelector('button.primary');
      if (b) b.textContent = on ? 'Approved' : 'Approve';
    }
  }

  function show(s) {
    sc = s;
    state.replaceChildren(badge(s.state));
    bar.set(s.progress);
    eta.lastChild.textContent = s.state === 'running' ? fmtDuration(s.eta_seconds) : '–';
    done.lastChild.textContent = `${(s.results || []).length} of ${s.variants}`;
    gpu.lastChild.textContent = s.gpu_seconds ? `${fmtNum(s.gpu_seconds, 1)} s` : '–';
    const running = s.state === 'queued' || s.state === 'running';
    cancel.disabled = !running || !ctx.can('write');
    if (s.preview_url) {
      swapImage(preview, s.preview_url);
      stageCaption.textContent = running ? 'Live preview from the backend.' : 'The last preview from the backend.';
    } else if (running) {
      stageCaption.textContent = s.state === 'queued' ? 'Waiting for a backend…' : 'Generating…';
    }
    for (const v of s.results || []) variant(v);
    if (s.error) cancelErr.show(new Error(s.error));
    markApproved();
    // Once nothing runs any more, the picture box compares the first variant.
    if (!running && selected === null && (s.results || []).length) {
      const first = [...s.results].sort((a, b) => a.index - b.index)[0];
      select(first.index, first, false);
    }
  }

  function variant(v) {
    const li = slot(v.index);
    if (li.dataset.rendition !== v.rendition.id) li.fill(v);
  }

  cancel.addEventListener('click', () => busy(cancel, cancelErr, async () => {
    show(await post(`/v1/scenes/${enc(sc.id)}/cancel`, {}, { signal: ctx.signal }));
  }));

  // follow listens to the scene's event stream; should it break, it polls instead.
  function follow(s) {
    for (let k = 0; k < s.variants; k++) slot(k); // every slot from the start: no jumps
    show(s);
    if (s.state !== 'queued' && s.state !== 'running') return;
    const es = new EventSource(`/v1/scenes/${enc(s.id)}/events`);
    let finished = false;
    ctx.onLeave(() => es.close());
    es.addEventListener('progress', (e) => {
      const p = JSON.parse(e.data);
      show({ ...sc, state: p.state, progress: p.progress, eta_seconds: p.eta_seconds, preview_url: p.preview_url, error: p.error });
    });
    es.addEventListener('variant', (e) => {
      const v = JSON.parse(e.data);
      sc = { ...sc, results: [...(sc.results || []).filter((x) => x.index !== v.index), v] };
      show(sc);
    });
    es.addEventListener('done', (e) => {
      finished = true;
      es.close();
      show(JSON.parse(e.data));
    });
    es.addEventListener('error', (e) => {
      if (finished) return;
      if (e.data) { // the service's own "error" event: a problem document
        try { cancelErr.show(new Error(JSON.parse(e.data).detail || 'the event stream failed')); } catch { /* not JSON */ }
      }
      if (es.readyState === EventSource.CLOSED || e.data) {
        es.close();
        poll(s.id);
      }
    });
  }

  function poll(sceneID) {
    ctx.every(1000, async () => {
      const s = await get(`/v1/scenes/${enc(sceneID)}`, { signal: ctx.signal });
      show(s);
      return s.state === 'queued' || s.state === 'running';
    }, cancelErr);
  }

  return { el, follow };
}
