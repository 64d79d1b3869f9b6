// Image: the original and every rendition side by side, with sizes, formats, the quality
// report, each rendition's lineage, and download links.
import { get, post, enc } from '../api.js';
import { h, clear, field, errorSlot, busy, fmtBytes, fmtNum, fmtTime, kv, checksLine } from '../dom.js';

// contentURL is the same-origin route of a rendition's bytes (the console's CSP allows
// images from its own origin only, so presigned or CDN URLs are not shown here).
export const renditionContent = (id) => `/v1/renditions/${enc(id)}/content`;
export const originalContent = (id) => `/v1/images/${enc(id)}/content`;

export async function render(root, [imageID], ctx) {
  const [img, list] = await Promise.all([
    get(`/v1/images/${enc(imageID)}`, { signal: ctx.signal }),
    get(`/v1/images/${enc(imageID)}/renditions`, { signal: ctx.signal }).catch((err) => {
      if (err.name === 'AbortError') throw err;
      return { renditions: [], error: err };
    }),
  ]);
  const ratio = img.width && img.height ? img.width / img.height : 4 / 3;
  const rends = list.renditions || [];
  const scene = rends.find((r) => r.id === img.scene_rendition_id);

  const original = h('li', { class: 'card' },
    h('div', { class: 'frame', 'data-ratio': ratio }, h('img', { src: originalContent(img.id), alt: `Original of ${img.sku || img.id}` })),
    h('div', { class: 'meta' },
      h('div', { class: 'spread' }, h('h3', {}, 'Original'), h('a', { href: originalContent(img.id), download: `${img.id}.${img.format}` }, 'Download')),
      kv([['Size', `${img.width}×${img.height}`], ['Format', img.format], ['Bytes', fmtBytes(img.bytes)],
        ['SHA-256', h('code', {}, (img.sha256 || '').slice(0, 16) + '…')], ['Added', fmtTime(img.created_at)]])));

  const cards = rends.map((r) => renditionCard(r, r.id === img.scene_rendition_id));

  const q = img.quality;
  const quality = q ? kv([
    ['Resolution', `${q.width}×${q.height}`], ['Format', q.format], ['Bytes', fmtBytes(q.bytes)],
    ['Sharpness', fmtNum(q.sharpness, 2)], ['JPEG quality', q.jpeg_quality || ''],
    ['Alpha channel', q.has_alpha ? 'yes' : 'no'],
    ['Plain background', q.plain_background ? `yes${q.background_color ? ` (${q.background_color})` : ''}` : 'no'],
  ]) : h('p', { class: 'muted' }, img.quality_error
    ? `No quality report: the original does not decode in full (${img.quality_error}).`
    : 'No quality report for this image.');

  clear(root,
    h('p', {}, h('a', { href: '#/library' }, '← Library')),
    h('div', { class: 'spread' },
      h('h1', {}, img.sku ? `${img.sku}` : img.id),
      h('div', { class: 'row' },
        ctx.can('write') ? h('a', { class: 'button primary', href: `#/images/${enc(img.id)}/scene` }, 'Open in scene studio') : null)),
    h('p', { class: 'muted' }, h('code', {}, img.id), img.sku ? ` · SKU ${img.sku}` : ''),
    scene ? h('section', { class: 'panel scene-panel', 'aria-labelledby': 'scene-h' },
      h('div', { class: 'frame small' }, h('img', { src: renditionContent(scene.id), alt: 'The approved scene image' })),
      h('div', {},
        h('h2', { id: 'scene-h' }, 'Scene image'),
        h('p', {}, 'The approved scene rendition ', h('code', { id: 'scene-rendition-id' }, scene.id),
          scene.lineage && scene.lineage.seed ? ` (seed ${scene.lineage.seed})` : ''),
        scene.lineage && scene.lineage.prompt ? h('p', { class: 'muted' }, `\u201c${scene.lineage.prompt}\u201d`) : null,
        checksLine(scene),
        h('a', { href: renditionContent(scene.id), download: `${img.id}-scene.${scene.format}` }, 'Download'))) : null,
    h('div', { class: 'cols' },
      h('section', { class: 'panel', 'aria-labelledby': 'q-h' }, h('h2', { id: 'q-h' }, 'Quality report'), quality,
        ctx.can('write') ? renderForm(img, ctx) : null),
      h('section', { 'aria-labelledby': 'r-h' },
        h('h2', { id: 'r-h' }, `Original and ${rends.length} rendition${rends.length === 1 ? '' : 's'}`),
        list.error ? h('p', { class: 'error' }, `Renditions could not be listed: ${list.error.message}`) : null,
        h('ul', { class: 'renditions' }, original, cards))));
  for (const f of root.querySelectorAll('.frame[data-ratio]')) f.style.aspectRatio = f.dataset.ratio;
}

// renditionCard shows one rendition: picture, its checks line (and whether review holds it),
// size, format, recipe hash, lineage, download.
export function renditionCard(r, isScene) {
  const l = r.lineage || {};
  const name = `${r.name}.${r.format}`;
  return h('li', { class: `card${isScene ? ' scene-mark' : ''}`, dataset: { rendition: r.id } },
    h('div', { class: 'frame' }, h('img', { src: renditionContent(r.id), alt: `Rendition ${r.name}`, loading: 'lazy' })),
    h('div', { class: 'meta' },
      h('div', { class: 'spread' },
        h('h3', {}, r.name, isScene ? h('span', { class: 'badge ok' }, 'scene') : null),
        h('a', { href: renditionContent(r.id), download: name }, 'Download')),
      checksLine(r),
      kv([['Size', `${r.width}×${r.height}`], ['Format', r.format], ['Bytes', fmtBytes(r.bytes)],
        ['Recipe', h('code', { title: r.recipe_hash }, (r.recipe_hash || '').slice(0, 12))],
        ['Prompt', l.prompt], ['Negative', l.negative_prompt], ['Seed', l.seed], ['Model', l.model],
        ['Sampler', l.sampler], ['Steps', l.steps], ['GPU', r.gpu_seconds ? `${fmtNum(r.gpu_seconds, 2)} s` : ''],
        ['Made', fmtTime(r.created_at)]])));
}

// renderForm runs a named recipe on the image (waiting up to 30 s for GPU work).
function renderForm(img, ctx) {
  const recipe = h('input', { type: 'text', name: 'recipe', placeholder: 'listing-main', required: true, autocomplete: 'off' });
  const err = errorSlot();
  const btn = h('button', { type: 'submit' }, 'Render');
  return h('form', { class: 'subform', onsubmit: (e) => {
    e.preventDefault();
    busy(btn, err, async () => {
      const res = await post(`/v1/images/${enc(img.id)}/renditions`, { recipe: recipe.value.trim(), wait: '30s' }, { signal: ctx.signal });
      if (res.job) { err.note(`Queued as job ${res.job.id}; it will appear here when done.`); return; }
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    });
  } }, h('h2', {}, 'Render a recipe'), field('Recipe name', recipe), h('div', { class: 'actions' }, btn), err);
}
