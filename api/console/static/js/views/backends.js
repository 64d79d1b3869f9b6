// Backends: each Stable Diffusion WebUI backend's health, circuit, queue, in-flight work,
// GPU-seconds and models, refreshed every few seconds.
import { get } from '../api.js';
import { h, clear, errorSlot, badge, fmtNum } from '../dom.js';

export async function render(root, _params, ctx) {
  const queue = h('div', { class: 'stats' });
  const tbody = h('tbody');
  const table = h('table', { 'aria-labelledby': 'be-h' },
    h('thead', {}, h('tr', {}, ['Backend', 'Health', 'In flight', 'Calls', 'GPU-seconds', 'Models', 'Last error']
      .map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const none = h('p', { class: 'muted hidden' }, 'No WebUI backend is configured (PICTOR_SD_URLS): AI steps use their classic engines, and scenes are off.');
  const err = errorSlot();
  clear(root, h('h1', {}, 'Backends'),
    h('section', { class: 'panel', 'aria-labelledby': 'q-h' }, h('h2', { id: 'q-h' }, 'Queue'), queue),
    h('section', { class: 'panel', 'aria-labelledby': 'be-h' }, h('h2', { id: 'be-h' }, 'WebUI backends'), table, none, err));

  ctx.every(3000, async () => {
    let res;
    try {
      res = await get('/v1/backends', { signal: ctx.signal });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      err.show(e);
      return e.status !== 403; // a key without admin will not gain it by waiting
    }
    err.clear();
    const q = res.queue || {};
    queue.replaceChildren(
      h('span', {}, 'Interactive (scenes) ', h('b', {}, String(q.interactive || 0))),
      h('span', {}, 'Batch ', h('b', {}, String(q.batch || 0))));
    none.classList.toggle('hidden', !!res.configured);
    tbody.replaceChildren(...(res.backends || []).map((b) => {
      let health = b.healthy ? 'healthy' : 'unhealthy';
      if (b.circuit_open) health = 'circuit open';
      return h('tr', { dataset: { backend: b.name } },
        h('td', {}, h('b', {}, b.name), h('div', { class: 'muted' }, h('code', {}, b.url))),
        h('td', {}, h('span', { class: `badge ${b.healthy && !b.circuit_open ? 'healthy' : 'unhealthy'}` }, health)),
        h('td', { class: 'num' }, b.in_flight ? badge('running') : '0'),
        h('td', { class: 'num' }, String(b.calls || 0)),
        h('td', { class: 'num' }, fmtNum(b.gpu_seconds, 1)),
        h('td', {}, (b.models || []).length ? h('ul', { class: 'models' }, b.models.map((m) => h('li', {}, m))) : h('span', { class: 'muted' }, 'none reported')),
        h('td', { class: 'error-cell' }, b.last_error || ''));
    }));
    return true;
  });
}
