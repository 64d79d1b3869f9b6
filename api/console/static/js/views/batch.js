// Batch: state, progress, rate, ETA, spend; the trial run's before/after previews and the
// cost estimate; start, pause, resume, cancel, retry; download results.
import { get, post, enc } from '../api.js';
import { h, clear, field, errorSlot, busy, progressBar, badge, fmtDuration, fmtNum, fmtBytes, kv, checksLine } from '../dom.js';
import { compare } from '../compare.js';
import { finished, fraction } from './batches.js';

// Which actions each state allows (the service decides; this only greys buttons out).
const ALLOWED = {
  trial: new Set(['draft', 'ready']),
  start: new Set(['draft', 'ready']),
  pause: new Set(['running']),
  resume: new Set(['paused']),
  cancel: new Set(['draft', 'ready', 'trialling', 'running', 'paused']),
  retry: new Set(['running', 'paused', 'done']),
};

export async function render(root, [batchID], ctx) {
  let b = await get(`/v1/batches/${enc(batchID)}`, { signal: ctx.signal });

  const title = h('h1', {}, b.name || b.id);
  const state = h('span', {}, badge(b.state));
  const bar = progressBar('Batch progress');
  const stat = (label) => {
    const v = h('b', {}, '–');
    return [h('span', {}, `${label} `, v), v];
  };
  const [sItems, vItems] = stat('Items');
  const [sOK, vOK] = stat('Succeeded');
  const [sFail, vFail] = stat('Failed');
  const [sSkip, vSkip] = stat('Skipped');
  const [sRate, vRate] = stat('Rate');
  const [sETA, vETA] = stat('ETA');
  const [sGPU, vGPU] = stat('GPU-seconds');
  const [sSpent, vSpent] = stat('Spent');
  const stats = h('div', { class: 'stats' }, sItems, sOK, sFail, sSkip, sRate, sETA, sGPU, sSpent);

  const actErr = errorSlot();
  const sample = h('input', { type: 'number', name: 'sample', min: '1', max: '200', step: '1', value: '20', class: 'narrow' });
  const buttons = {};
  let forced = false;
  const action = (name, label, cls) => {
    const btn = h('button', { type: 'button', class: cls || '', dataset: { action: name } }, label);
    btn.addEventListener('click', () => busy(btn, actErr, async () => {
      const body = name === 'trial' ? { sample: Number(sample.value) || 20 } : {};
      if (name === 'start' || name === 'retry') body.force = forced;
      try {
        b = await post(`/v1/batches/${enc(b.id)}/${name}`, body, { signal: ctx.signal });
      } catch (e) {
        // A trial below the batch's min_accuracy (or none, for AI recipes) blocks start:
        // the problem carries the report; offer to start anyway.
        if (e.status === 409 && (name === 'start' || name === 'retry') && !forced) {
          forced = true;
          btn.textContent = `${label} anyway`;
          if (e.problem && e.problem.trial) { b = { ...b, trial: e.problem.trial }; show(); }
        }
        throw e;
      }
      forced = false;
      btn.textContent = label;
      show();
      actErr.note(`${label}: done.`);
      watch();
    }));
    buttons[name] = btn;
    return btn;
  };
  const controls = h('div', { class: 'actions row bottom' },
    field('Trial sample', sample), action('trial', 'Run trial'), action('start', 'Start', 'primary'), action('pause', 'Pause'),
    action('resume', 'Resume'), action('retry', 'Retry failed'), action('cancel', 'Cancel', 'danger'));
  const results = h('div', { class: 'row results' }, 'Results: ',
    h('a', { class: 'button', href: `/v1/batches/${enc(b.id)}/results?format=csv`, download: `${b.id}-results.csv` }, 'CSV'),
    h('a', { class: 'button', href: `/v1/batches/${enc(b.id)}/results?format=jsonl`, download: `${b.id}-results.jsonl` }, 'JSONL'));

  const estimate = h('div');
  const trial = h('div');
  const errors = h('div');

  function show() {
    state.replaceChildren(badge(b.state));
    bar.set(fraction(b));
    const c = b.counts || {};
    vItems.textContent = `${finished(b)} / ${b.total}`;
    vOK.textContent = String(c.succeeded || 0);
    vFail.textContent = String(c.failed || 0);
    vSkip.textContent = String(c.skipped || 0);
    vRate.textContent = b.rate_per_second ? `${fmtNum(b.rate_per_second, 1)}/s` : '–';
    vETA.textContent = b.state === 'running' ? fmtDuration(b.eta_seconds) : '–';
    vGPU.textContent = fmtNum(b.gpu_seconds, 1);
    vSpent.textContent = b.spent !== undefined && b.spent !== null ? `${fmtNum(b.spent, 2)} ${b.currency || ''}`.trim() : '–';
    const can = ctx.can('write');
    for (const [name, btn] of Object.entries(buttons)) {
      let ok = can && ALLOWED[name].has(b.state);
      if (name === 'retry') ok = ok && (c.failed || 0) > 0;
      btn.disabled = !ok || btn.getAttribute('aria-busy') === 'true';
    }
    showEstimate();
    showTrial();
    clear(errors,
      b.error ? h('p', { class: 'error' }, b.error) : null,
      b.paused_reason ? h('p', { class: 'error', dataset: { role: 'paused-reason' } }, `Paused: ${b.paused_reason}`) : null,
      b.bad_rows ? h('p', { class: 'muted' }, `${b.bad_rows} manifest row${b.bad_rows === 1 ? '' : 's'} could not be read`,
        (b.bad_row_sample || []).length ? `: ${(b.bad_row_sample || []).map((r) => `row ${r.row}: ${r.message}`).join('; ')}` : '') : null);
  }

  let estKey = '';
  function showEstimate() {
    const e = b.estimate;
    const key = JSON.stringify(e || null);
    if (key === estKey) return;
    estKey = key;
    if (!e) {
      estimate.replaceChildren(h('p', { class: 'muted' }, 'Run a trial to see the cost estimate.'));
      return;
    }
    const cur = e.currency ? ` ${e.currency}` : '';
    estimate.replaceChildren(kv([
      ['Items to process', fmtNum(e.items, 0)], ['Pass the filter', e.pass_rate !== undefined ? `${fmtNum(e.pass_rate * 100, 0)}%` : ''],
      ['GPU-seconds', fmtNum(e.gpu_seconds, 0)], ['CPU-seconds', fmtNum(e.cpu_seconds, 0)],
      ['Storage', fmtBytes(e.bytes)], ['Wall time', fmtDuration(e.wall_seconds)],
      ['Cost per item', e.priced && e.cost_per_item !== undefined ? `${fmtNum(e.cost_per_item, 4)}${cur}` : ''],
      ['Cost', e.priced && e.cost !== undefined ? `${fmtNum(e.cost, 2)}${cur}` : (e.note || 'no prices configured')],
      ['Max cost', b.max_cost ? `${fmtNum(b.max_cost, 2)}${cur}` : ''],
      ['Workers', e.workers], ['Backends', e.backends],
    ]));
  }

  let trialKey = '';
  function showTrial() {
    const t = b.trial || {};
    const samples = t.samples || [];
    const key = JSON.stringify([t, b.state, b.min_accuracy]);
    if (key === trialKey) return;
    trialKey = key;
    const p = t.progress || {};
    const head = b.state === 'trialling'
      ? h('p', { dataset: { role: 'trial-progress' } }, `The trial is running: ${p.done || 0} of ${p.total || '?'} samples.`)
      : null;
    if (!samples.length) {
      trial.replaceChildren(head || h('p', { class: 'muted' }, 'No trial yet.'));
      return;
    }
    const report = t.done ? trialReport(t, b.min_accuracy) : null;
    trial.replaceChildren(...[head, report].filter(Boolean), h('ul', { class: 'samples' }, samples.map((s) => {
      const src = s.source || s.source_url || '';
      let body;
      if (s.error) body = h('p', { class: 'error' }, s.error);
      else if (s.before_url && s.after_url && sameOrigin(s.before_url) && sameOrigin(s.after_url)) {
        body = compare(s.before_url, s.after_url, { beforeLabel: 'Before', afterLabel: 'After' });
      } else if (s.passed === false) body = h('p', { class: 'muted' }, 'Skipped: does not match the filter.');
      else body = h('p', {}, s.after_url ? h('a', { href: s.after_url }, 'Result') : 'No preview.');
      return h('li', { class: 'card' }, h('div', { class: 'meta' },
        checksLine(s, `#/reviews?batch=${enc(b.id)}`),
        h('div', { class: 'spread' }, h('b', {}, `Row ${s.row}`),
          h('span', { class: 'muted num' }, s.gpu_seconds ? `${fmtNum(s.gpu_seconds, 2)} GPU-s` : '')),
        h('p', { class: 'muted' }, h('code', {}, src.length > 60 ? `${src.slice(0, 57)}…` : src)), body));
    })));
  }

  clear(root,
    h('div', { class: 'spread page-head' },
      h('div', { class: 'row' }, title, state, h('code', { class: 'muted' }, b.id)),
      h('a', { href: '#/batches' }, 'All batches')),
    h('section', { class: 'panel', 'aria-labelledby': 'prog-h' },
      h('div', { class: 'spread' }, h('h2', { id: 'prog-h' }, 'Progress'), results), bar, stats,
      controls, actErr, errors),
    h('div', { class: 'cols' },
      h('section', { class: 'panel', 'aria-labelledby': 'est-h' }, h('h2', { id: 'est-h' }, 'Cost estimate'), estimate),
      h('section', { class: 'panel', 'aria-labelledby': 'trial-h' }, h('h2', { id: 'trial-h' }, 'Trial run: before and after'), trial)));
  show();

  // watch polls while the batch changes by itself.
  let watching = false;
  function watch() {
    if (watching) return;
    watching = true;
    ctx.every(1000, async () => {
      b = await get(`/v1/batches/${enc(b.id)}`, { signal: ctx.signal });
      show();
      const active = b.state === 'running' || b.state === 'trialling';
      if (!active) watching = false;
      return active;
    }, actErr);
  }
  watch();
}

// trialReport is a finished trial's accuracy against the batch's threshold and its
// failures per check.
function trialReport(t, min) {
  const acc = t.accuracy !== undefined ? t.accuracy : 1;
  const below = min !== undefined && acc < min;
  const fails = Object.entries(t.failures || {}).map(([k, n]) => `${k}: ${n}`).join(', ');
  return h('div', { dataset: { role: 'trial-report' } },
    h('p', { class: below ? 'error' : '' },
      `Accuracy ${fmtNum(acc * 100, 1)}% of ${t.judged || 0} samples`,
      min !== undefined ? ` (the batch needs ${fmtNum(min * 100, 0)}%${below ? ': start is blocked unless forced' : ''})` : ''),
    fails ? h('p', { class: 'muted' }, `Failures by check: ${fails}`) : null);
}

// sameOrigin reports whether a URL is on this origin (the console's CSP shows no others).
function sameOrigin(u) {
  try { return new URL(u, location.href).origin === location.origin; } catch { return false; }
}
