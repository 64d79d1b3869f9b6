import { h, id } from './dom.js';

// compare is a before/after slider: the "after" image lies over the "before" image and a
// range input (keyboard: arrows, Home, End, Page Up/Down) sets how much of it shows.
// ratio is the images' width / height, so the box has their shape from the start.
export function compare(beforeSrc, afterSrc, { ratio, beforeLabel = 'Original', afterLabel = 'Variant' } = {}) {
  const before = h('img', { src: beforeSrc, alt: beforeLabel });
  const after = h('img', { src: afterSrc, alt: afterLabel, class: 'after' });
  const divider = h('div', { class: 'divider' });
  const box = h('div', { class: 'compare' }, before, after, divider,
    h('span', { class: 'tag before' }, beforeLabel), h('span', { class: 'tag after' }, afterLabel));
  if (ratio) box.style.aspectRatio = String(ratio);
  const rid = id('compare');
  const range = h('input', {
    type: 'range', min: '0', max: '100', step: '1', value: '50', id: rid,
    'aria-label': `Reveal: ${beforeLabel} on the left, ${afterLabel} on the right`,
  });
  const set = () => {
    const v = Number(range.value);
    // The after image shows right of the divider.
    after.style.clipPath = `inset(0 0 0 ${v}%)`;
    divider.style.left = `calc(${v}% - 1px)`;
    range.setAttribute('aria-valuetext', `${v}% ${beforeLabel}`);
  };
  range.addEventListener('input', set);
  // Dragging on the picture moves the divider too.
  let dragging = false;
  const fromPointer = (e) => {
    const r = box.getBoundingClientRect();
    range.value = String(Math.round(Math.max(0, Math.min(1, (e.clientX - r.left) / r.width)) * 100));
    set();
  };
  box.addEventListener('pointerdown', (e) => { dragging = true; box.setPointerCapture(e.pointerId); fromPointer(e); });
  box.addEventListener('pointermove', (e) => { if (dragging) fromPointer(e); });
  box.addEventListener('pointerup', () => { dragging = false; });
  set();
  const el = h('div', { class: 'compare-wrap' }, box,
    h('div', { class: 'compare-range' }, h('label', { for: rid, class: 'muted' }, `Before/after: drag or use the arrow keys`), range));
  el.range = range;
  el.setAfter = (src, label) => {
    after.src = src;
    if (label) { after.alt = label; el.querySelector('.tag.after').textContent = label; }
  };
  return el;
}
