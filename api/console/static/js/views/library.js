// Library: the ingested images as a grid, filtered by SKU; upload (drag and drop or the
// file picker) and add by URL.
import { get, post, enc } from '../api.js';
import { h, clear, field, errorSlot, busy, fmtBytes } from '../dom.js';

// THUMB_RECIPE makes the grid's thumbnails: a rendition like any other, content addressed,
// so each is rendered once and then served from storage.
export const THUMB_RECIPE = {
  steps: [{ op: 'auto_orient' }],
  outputs: [{ name: 'thumb', format: 'webp', quality: 80, resize: { width: 320, height: 320, fit: 'inside', without_enlargement: true } }],
};

const PAGE = 48;

export async function render(root, _params, ctx) {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const sku = h('input', { type: 'search', name: 'filter_sku', value: params.get('sku') || '', placeholder: 'e.g. SKU-1042' });
  const filterErr = errorSlot();
  const filter = h('form', { role: 'search', onsubmit: (e) => { e.preventDefault(); load(true); } },
    h('div', { class: 'row bottom' }, field('Filter by SKU', sku), h('button', { type: 'submit' }, 'Filter')));

  const grid = h('ul', { class: 'grid', 'aria-label': 'Images' });
  const more = h('button', { type: 'button', class: 'hidden', onclick: () => load(false) }, 'Load more');
  const moreErr = errorSlot();
  const count = h('p', { class: 'muted num', 'aria-live': 'polite' });
  let cursor = '';

  const thumbs = thumbnailer(ctx);

  async function load(reset) {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (sku.value.trim()) q.set('sku', sku.value.trim());
    if (!reset && cursor) q.set('cursor', cursor);
    await busy(reset ? filter.querySelector('button') : more, reset ? filterErr : moreErr, async () => {
      const res = await get(`/v1/images?${q}`, { signal: ctx.signal });
      if (reset) grid.replaceChildren();
      for (const img of res.images) grid.append(card(img, thumbs));
      cursor = res.next_cursor || '';
      more.classList.toggle('hidden', !cursor);
      count.textContent = grid.children.length === 0
        ? (sku.value.trim() ? 'No image has this SKU.' : 'No images yet: upload one above.')
        : `${grid.children.length} image${grid.children.length === 1 ? '' : 's'}${cursor ? ' (more below)' : ''}`;
    });
  }

  clear(root,
    h('div', { class: 'spread' }, h('h1', {}, 'Library'), filter),
    filterErr,
    ctx.can('write') ? addPanel(ctx) : null,
    count, grid, h('div', { class: 'actions' }, more), moreErr);
  await load(true);
}

// card is one image of the grid.
function card(img, thumbs) {
  const pic = h('img', { alt: `Image ${img.sku || img.id}`, width: '320', height: '320', loading: 'lazy', decoding: 'async' });
  thumbs.add(img, pic);
  return h('li', { class: 'card' },
    h('a', { href: `#/images/${enc(img.id)}` },
      h('div', { class: 'thumb' }, pic),
      h('div', { class: 'meta' },
        h('b', {}, img.sku || img.id),
        h('span', { class: 'muted num' }, `${img.width}×${img.height} · ${img.format} · ${fmtBytes(img.bytes)}`),
        img.scene_rendition_id ? h('span', { class: 'badge ok' }, 'scene approved') : null)));
}

// thumbnailer fills the grid's images a few at a time, as they scroll into view: the
// thumb rendition when the key may render (retrying politely on 429), else the original.
function thumbnailer(ctx) {
  const queue = [];
  let running = 0;
  const MAX = 3;
  const io = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      io.unobserve(e.target);
      queue.push(e.target);
    }
    pump();
  }, { rootMargin: '200px' });
  ctx.onLeave(() => io.disconnect());

  async function one(pic) {
    const img = pic._image;
    const original = `/v1/images/${enc(img.id)}/content`;
    if (!ctx.can('write')) { pic.src = original; return; }
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        const res = await post(`/v1/images/${enc(img.id)}/renditions`, { recipe: THUMB_RECIPE }, { signal: ctx.signal });
        const r = (res.renditions || [])[0];
        pic.src = r ? `/v1/renditions/${enc(r.id)}/content` : original;
        return;
      } catch (err) {
        if (err.name === 'AbortError') return;
        if (err.status === 429) { await sleep((err.retryAfter || 1) * 1000); continue; }
        break;
      }
    }
    pic.src = original;
  }

  function pump() {
    while (running < MAX && queue.length) {
      running++;
      one(queue.shift()).finally(() => { running--; pump(); });
    }
  }

  return {
    add(img, pic) { pic._image = img; io.observe(pic); },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// addPanel uploads files (drop them or pick them) or adds an image by URL, with a SKU.
function addPanel(ctx) {
  const sku = h('input', { type: 'text', name: 'sku', autocomplete: 'off', placeholder: 'e.g. MUG-042' });
  const file = h('input', { type: 'file', name: 'file', accept: 'image/jpeg,image/png,image/webp,image/avif,image/gif,image/tiff', multiple: true });
  const upErr = errorSlot();
  const drop = h('div', { class: 'drop' },
    h('p', {}, 'Drop product images here, or choose them:'), file);
  file.setAttribute('aria-label', 'Choose image files to upload');
  const url = h('input', { type: 'url', name: 'url', placeholder: 'https://…', required: true });
  const urlErr = errorSlot();
  const addBtn = h('button', { type: 'submit', class: 'primary' }, 'Add by URL');

  async function upload(files) {
    const list = [...files].filter((f) => f.type.startsWith('image/') || f.name.match(/\.(jpe?g|png|webp|avif|gif|tiff?)$/i));
    if (!list.length) { upErr.show(new Error('drop image files (JPEG, PNG, WebP, AVIF, GIF or TIFF)')); return; }
    upErr.clear();
    let last = null;
    for (const [i, f] of list.entries()) {
      upErr.note(`Uploading ${i + 1} of ${list.length}: ${f.name}…`);
      const fd = new FormData();
      fd.append('file', f, f.name);
      if (sku.value.trim()) fd.append('sku', sku.value.trim());
      try {
        last = await post('/v1/images', fd, { signal: ctx.signal });
      } catch (err) {
        if (err.name === 'AbortError') return;
        upErr.show(new Error(`${f.name}: ${err.message}`));
        return;
      }
    }
    file.value = '';
    if (list.length === 1 && last) ctx.go(`#/images/${enc(last.image.id)}`);
    else { upErr.note(`Uploaded ${list.length} images.`); window.dispatchEvent(new HashChangeEvent('hashchange')); }
  }

  file.addEventListener('change', () => upload(file.files));
  for (const ev of ['dragenter', 'dragover']) {
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('over'); });
  }
  for (const ev of ['dragleave', 'drop']) {
    drop.addEventListener(ev, () => drop.classList.remove('over'));
  }
  drop.addEventListener('drop', (e) => { e.preventDefault(); upload(e.dataTransfer.files); });

  const byURL = h('form', { onsubmit: (e) => {
    e.preventDefault();
    busy(addBtn, urlErr, async () => {
      const body = { url: url.value.trim() };
      if (sku.value.trim()) body.sku = sku.value.trim();
      const res = await post('/v1/images', body, { signal: ctx.signal });
      ctx.go(`#/images/${enc(res.image.id)}`);
    });
  } }, field('Or add by URL', url), h('div', { class: 'actions' }, addBtn), urlErr);

  return h('section', { class: 'panel', 'aria-labelledby': 'add-h' },
    h('h2', { id: 'add-h' }, 'Add images'),
    h('div', { class: 'cols-3' },
      field('SKU for new images', sku, '(optional)'),
      h('div', {}, drop, upErr),
      byURL));
}
