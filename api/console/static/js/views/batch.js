// Batch: state, progress, rate, ETA, spend; the trial run's before/after previews and the
// cost estimate; what the batch is made of (selection or manifest, columns, scene, prompts,
// schedule, delayed start); start now or later, pause, resume, cancel, retry; download
// results as CSV, JSONL or XLSX.
import { get, post, enc } from '../api.js';
import { h, clear, field, errorSlot, busy, progressBar, badge, fmtDuration, fmtNum, fmtBytes, fmtTime, kv, checksLine } from '../dom.js';
import { compare } from '../compare.js';
import { finished, fraction } from './batches.js';
import { describeSelection, isoOf, localOf } from './select.js';

// Which actions each state allows (the service decides; this only greys buttons out).
const ALLOWED = {
  trial: new Set(['draft', 'ready']),
  start: new Set(['draft', 'ready']),
  'start-later': new Set(['draft', 'ready', 'trialling']),
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
  // "Start later": a delayed start at a time in this browser's zone, an hour from now by default.
  const later = h('input', { type: 'datetime-local', name: 'start_at', value: localOf(new Date(Date.now() + 3600e3)) });
  const action = (name, label, cls) => {
    const btn = h('button', { type: 'button', class: cls || '', dataset: { action: name } }, label);
    const path = name === 'start-later' ? 'start' : name;
    btn.addEventListener('click', () => busy(btn, actErr, async () => {
      const body = name === 'trial' ? { sample: Number(sample.value) || 20 } : {};
      if (name === 'start' || name === 'retry' || name === 'start-later') body.force = forced;
      if (name === 'start-later') {
        body.at = isoOf(later.value);
        if (!body.at) { later.focus(); throw new Error('choose when the batch should start'); }
      }
      try {
        b = await post(`/v1/batches/${enc(b.id)}/${path}`, body, { signal: ctx.signal });
      } catch (e) {
        // A trial below the batch's min_accuracy (or none, for AI recipes) blocks start:
        // the problem carries the report; offer to start anyway.
        if (e.status === 409 && (path === 'start' || name === 'retry') && !forced) {
          forced = true;
          btn.textContent = `${label} anyway`;
          if (e.problem && e.problem.trial) { b = { ...b, trial: e.problem.trial }; show(); }
        }
        throw e;
      }
      forced = false;
      btn.textContent = label;
      show();
      actErr.note(name === 'start-later' && b.start_at ? `Starts at ${fmtTime(b.start_at)}.` : `${label}: done.`);
      watch();
    }));
    buttons[name] = btn;
    return btn;
  };
  const controls = h('div', { class: 'actions row bottom' },
    field('Trial sample', sample), action('trial', 'Run trial'), action('start', 'Start', 'primary'), action('pause', 'Pause'),
    action('resume', 'Resume'), action('retry', 'Retry failed'), action('cancel', 'Cancel', 'danger'),
    h('div', { class: 'row bottom later' }, field('Start at', later), action('start-later', 'Start later')));
  const resultLink = (format, label) => h('a', { class: 'button', dataset: { format }, href: `/v1/batches/${enc(b.id)}/results?format=${format}`, download: `${b.id}-results.${format}` }, label);
  const results = h('div', { class: 'row results' }, 'Results: ',
    resultLink('csv', 'CSV'), resultLink('jsonl', 'JSONL'), resultLink('xlsx', 'XLSX'));
  const details = h('div', { class: 'details' });

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
    showDetails();
    clear(errors,
      b.error ? h('p', { class: 'error' }, b.error) : null,
      b.paused_reason ? h('p', { class: 'error', dataset: { role: 'paused-reason' } }, `Paused: ${b.paused_reason}`) : null,
      b.bad_rows ? h('p', { class: 'muted' }, `${b.bad_rows} manifest row${b.bad_rows === 1 ? '' : 's'} could not be read`,
        (b.bad_row_sample || []).length ? `: ${(b.bad_row_sample || []).map((r) => `row ${r.row}: ${r.message}`).join('; ')}` : '') : null);
  }

  let detailsKey = '';
  function showDetails() {
    const key = JSON.stringify([b.selection, b.from_scene, b.manifest_url, b.columns, b.columns_not_kept, b.duplicate_rows,
      b.prompt_template, b.prompt_vars, b.variants, b.start_at, b.start_force, b.schedule, b.next_run, b.refresh, b.review, b.min_accuracy]);
    if (key === detailsKey) return;
    detailsKey = key;
    details.replaceChildren(batchDetails(b));
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
    h('section', { class: 'panel', 'aria-labelledby': 'about-h' }, h('h2', { id: 'about-h' }, 'What it runs on'), details),
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
      // A delayed start moves the batch by itself too.
      const active = b.state === 'running' || b.state === 'trialling' || !!b.start_at;
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
    fails ? h('p', { class: 'muted' }, `Failures by check: ${fails}`) : null,
    t.from_row ? h('p', { class: 'muted' }, `This trial ran on the rows from row ${t.from_row} (new rows of a scheduled batch).`) : null,
    t.prompt_errors ? h('div', { class: 'prompt-errors', dataset: { role: 'prompt-errors' } },
      h('p', { class: 'error' }, `${t.prompt_errors} row${t.prompt_errors === 1 ? '' : 's'} could not fill the prompt template; they fail when the batch runs.`),
      h('ul', {}, (t.prompt_error_sample || []).map((r) => h('li', {}, `Row ${r.row}: ${r.message}`)))) : null);
}

// batchDetails says what a batch is made of: its source (a selection, a manifest URL with
// its schedule, or an upload), the scene it comes from, the columns kept, its prompts, and
// when it starts.
function batchDetails(b) {
  let sel = b.selection;
  if (typeof sel === 'string') { try { sel = JSON.parse(sel); } catch { /* shown as is */ } }
  const r = b.refresh;
  const refresh = r ? h('span', { dataset: { role: 'refresh' } },
    r.failures ? h('span', { class: 'error-text' }, `${r.failures} failed re-read${r.failures === 1 ? '' : 's'}${r.last_error ? `: ${r.last_error}` : ''}${r.last_failure ? ` (last ${fmtTime(r.last_failure)})` : ''}`)
      : 'no failures',
    r.last_success ? `; last read whole ${fmtTime(r.last_success)}` : '') : '';
  const vars = Object.entries(b.prompt_vars || {}).map(([v, c]) => `{${v}} ← ${c}`).join(', ');
  return kv([
    ['Products', sel ? h('span', { dataset: { role: 'selection' } }, describeSelection(sel)) : ''],
    ['Manifest', b.manifest_url ? h('code', {}, b.manifest_url) : (sel ? '' : 'uploaded')],
    ['From scene', b.from_scene ? h('a', { href: `#/scenes/${enc(b.from_scene)}`, dataset: { role: 'from-scene' } }, b.from_scene) : ''],
    ['Columns', (b.columns || []).length ? h('span', { dataset: { role: 'columns' } }, b.columns.join(', ')) : ''],
    ['Columns not kept', (b.columns_not_kept || []).length ? `${b.columns_not_kept.join(', ')} (not usable as metadata keys)` : ''],
    ['Duplicate rows', b.duplicate_rows ? `${fmtNum(b.duplicate_rows, 0)} left out (same source and SKU as an earlier row)` : ''],
    ['Prompt template', b.prompt_template ? h('code', {}, b.prompt_template) : ''],
    ['Prompt variables', vars],
    ['Variants', b.variants > 1 ? `${b.variants} per product` : ''],
    ['Review', b.review],
    ['Minimum accuracy', b.min_accuracy !== undefined ? `${fmtNum(b.min_accuracy * 100, 0)}%` : ''],
    ['Start', b.start_at ? h('span', { dataset: { role: 'start-at' } }, `starts at ${fmtTime(b.start_at)}${b.start_force ? ', even if the trial fails' : ''}`) : ''],
    ['Schedule', b.schedule ? h('span', { dataset: { role: 'schedule' } }, h('code', {}, b.schedule), b.next_run ? ` · next run ${fmtTime(b.next_run)}` : '') : ''],
    ['Refreshes', refresh],
  ]);
}

// sameOrigin reports whether a URL is on this origin (the console's CSP shows no others).
function sameOrigin(u) {
  try { return new URL(u, location.href).origin === location.origin; } catch { return false; }
}
