/* Event timelines (overview, job page, all events): one line per event, coloured by outcome
 * (a failed job or sheet is red either way), `process.*` events hidden unless the person asks
 * (they are most of the traffic and little of the story). Loaded before app.js. */
'use strict';

const timelineView = (window.mztTimeline = { showProcess: false });

/** Outcome class of an event: what its colour says. */
function outcomeOf(e) {
  const t = e.type;
  const d = e.data || {};
  if (/\.(failed|timed_out)$/.test(t) || t === 'monitor.limit_exceeded' || t === 'monitor.job_limit_exceeded' || t === 'process.oom') return 'bad';
  if (d.status === 'failed' || d.status === 'timed_out' || d.final_status === 'failed') return 'bad';
  if (/\.(cancelled|interrupted)$/.test(t) || t === 'monitor.anomaly') return 'warn';
  if (/\.completed$/.test(t)) return 'ok';
  return '';
}

function summarize(e) {
  const d = e.data || {};
  const bits = [];
  for (const k of ['status', 'reason', 'exit_code', 'signal', 'pid', 'level', 'kind', 'message', 'name', 'error']) {
    if (d[k] !== undefined && d[k] !== null && typeof d[k] !== 'object') bits.push(`${k}=${d[k]}`);
  }
  if (e.type === 'monitor.trace' && Array.isArray(d.syscalls)) bits.push(`top: ${d.syscalls.slice(0, 3).map((r) => `${r.syscall}×${r.calls}`).join(' ')}`);
  if (!bits.length) {
    const j = JSON.stringify(d);
    return j.length > 120 ? `${j.slice(0, 117)}...` : j;
  }
  return bits.join(' ');
}

/** Renders the newest `max` events of `list` (after the process.* filter) into the <ol>. */
function renderTimeline(el, list, max) {
  if (!el) return;
  const shown = timelineView.showProcess ? list : list.filter((e) => !e.type.startsWith('process.'));
  el.innerHTML = shown.slice(-max).reverse().map((e) => {
    const kind = e.type.split('.')[0];
    return `<li class="ev ${esc(kind)} ${outcomeOf(e)}" data-seq="${e.seq}" data-type="${esc(e.type)}"><span class="ts" title="${esc(fullTime(e.ts))}">${clock(e.ts)}</span> <span class="seq">#${e.seq}</span>
      <span class="type">${esc(e.type)}</span>${e.job_id ? ` <a href="#/jobs/${encodeURIComponent(e.job_id)}">${esc(e.job_id)}</a>` : ''}${e.sheet_num != null ? ` <span class="sub">sheet ${e.sheet_num}</span>` : ''}
      <span class="sub">${esc(summarize(e))}</span></li>`;
  }).join('');
}

/** Every "show process events" checkbox drives the same setting and redraws the timelines. */
function bindProcessToggles(redraw) {
  for (const box of document.querySelectorAll('input.show-process')) {
    box.checked = timelineView.showProcess;
    box.addEventListener('change', () => {
      timelineView.showProcess = box.checked;
      for (const other of document.querySelectorAll('input.show-process')) other.checked = box.checked;
      redraw();
    });
  }
}
