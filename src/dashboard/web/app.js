/* mzt conductor dashboard: plain browser JavaScript, no build step.
 * Live data arrives over Server-Sent Events; every list on screen is capped so the page stays
 * responsive with thousands of events and hundreds of processes. Rendering is batched to
 * one pass per animation frame. */
'use strict';

const CHART_POINTS = 300;
const TIMELINE_MAX = 200;
const ALL_EVENTS_MAX = 1000;
const LOG_MAX_LINES = 5000;
const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'interrupted']);

/** What the browser test reads: when each event seq arrived, and the latest snapshot. */
const probe = (window.mzt = { received: new Map(), snapshots: 0, lastSnapshot: null, logLines: 0, render: (part) => renderers[part]() });

const $ = (id) => document.getElementById(id);

function api(path, params = {}) {
  // No token here: the login cookie (set when the ?token= URL was opened) goes with every request.
  const q = new URLSearchParams(params);
  const s = q.toString();
  return `api/${path}${s ? `?${s}` : ''}`;
}

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function mb(v) {
  if (v === null || v === undefined) return '—';
  return v >= 1024 ? `${(v / 1024).toFixed(1)} GB` : `${Math.round(v)} MB`;
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

const pad2 = (n) => String(n).padStart(2, '0');
/** The one time format of the page: 24-hour local HH:MM:SS (fullTime in the tooltip adds the date). */
function clock(ts) {
  if (!ts) return '—';
  const d = new Date(ts * 1000);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}
function fullTime(ts) {
  if (!ts) return '';
  const d = new Date(ts * 1000);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${clock(ts)}`;
}

const STATUS_COLOR = {
  queued: 'gray', running: 'blue', completed: 'green', failed: 'red', cancelled: 'orange', interrupted: 'purple',
  pending: 'gray', timed_out: 'red', skipped: 'gray',
};
const PRESSURE_COLOR = { none: 'green', low: 'blue', medium: 'yellow', high: 'orange', critical: 'red' };
const badge = (text, color) => `<span class="badge ${color || 'gray'}">${esc(text)}</span>`;

/* ---------- render scheduling: at most one DOM pass per frame ---------- */
let paused = false;
const dirty = new Set();
let frameRequested = false;
function schedule(what) {
  dirty.add(what);
  if (paused || frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(() => {
    frameRequested = false;
    const parts = [...dirty];
    dirty.clear();
    for (const p of parts) renderers[p]?.();
  });
}
$('pause').addEventListener('click', () => {
  paused = !paused;
  $('pause').textContent = paused ? 'Resume' : 'Pause';
  if (!paused) for (const p of Object.keys(renderers)) schedule(p);
});

/* ---------- an EventSource that comes back after errors the browser does not retry ---------- */
/**
 * An EventSource that is opened again after an HTTP error (the browser itself only retries a
 * dropped connection). `url(lastId)` gets the last event id seen, so that reopening resumes
 * (`since=`) the way the browser's own Last-Event-ID does.
 */
function liveStream(url, handlers, { onOpen, onFail } = {}) {
  let es;
  let closed = false;
  let retry;
  let lastId;
  const open = () => {
    es = new EventSource(url(lastId));
    es.onopen = () => onOpen?.();
    for (const [name, fn] of Object.entries(handlers)) {
      es.addEventListener(name, (m) => {
        if (m.lastEventId) lastId = m.lastEventId;
        let data;
        try {
          data = JSON.parse(m.data);
        } catch {
          data = m.data;
        }
        fn(data, m);
      });
    }
    es.onerror = () => {
      // CONNECTING: the browser retries by itself (with Last-Event-ID). CLOSED: an HTTP error.
      if (es.readyState === EventSource.CLOSED && !closed) {
        onFail?.();
        retry = setTimeout(open, 3000);
      }
    };
  };
  open();
  return { close() { closed = true; clearTimeout(retry); es.close(); } };
}

/* ---------- connection state ---------- */
let connected = null;
function setConnected(c, text) {
  const was = connected;
  connected = c;
  if (c && was !== true) void checkFleet(); // fleet.js; shows the Fleet link if in a fleet
  else showFleetLink();
  const el = $('conn');
  el.className = `badge ${c ? 'green' : c === false ? 'red' : 'gray'}`;
  el.textContent = text || (c ? 'live' : c === false ? 'conductor down' : 'connecting…');
  const banner = $('banner');
  if (c === false) {
    banner.innerHTML = 'The conductor is not running — start it with: <code>mzt conductor start</code>. Showing the last known state.';
    banner.className = 'banner error';
  } else {
    banner.className = 'banner hidden';
  }
}

const renderers = {
  cards: renderCards,
  charts: renderCharts,
  processes: renderProcesses,
  jobs: renderJobs,
  topJobs: () => renderTopJobs(snapshot, new Map(jobs.map((j) => [j.job_id, j.name]))),
  jobCost: () => renderJobCost(snapshot, job, drawChart),
  timeline: () => renderTimeline($('timeline'), timeline, TIMELINE_MAX),
  allEvents: () => renderTimeline($('all-events'), allEvents, ALL_EVENTS_MAX),
  job: renderJob,
  log: renderLog,
  fleet: () => route.view === 'fleet' && renderFleet(),
  jobEvents: () => {
    renderTimeline($('job-events'), jobEvents, ALL_EVENTS_MAX);
    renderJobTrace(jobEvents);
  },
};

$('proc-sort').addEventListener('change', (e) => { procSort = e.target.value; schedule('processes'); });

/* ---------- jobs list ---------- */
let jobs = [];
let jobsFetch = null;
function refreshJobs() {
  if (jobsFetch) return;
  jobsFetch = setTimeout(async () => {
    try {
      const r = await fetch(api('jobs', { limit: 50 }));
      if (r.ok) {
        const body = await r.json();
        jobs = body.jobs;
        $('jobs-count').textContent = `(${body.total})`;
        schedule('jobs');
      }
    } catch { /* the next event retries */ }
    jobsFetch = null;
  }, 200);
}
/** Sheets done, and the sheet running now: a one-sheet job shows "sheet 1 running", not just 0/1. */
function progressText(j) {
  const running = (j.status === 'running' || j.status === 'paused') && j.current_sheet != null;
  return `${j.completed_sheets}/${j.total_sheets}${running ? ` · sheet ${j.current_sheet} ${j.status}` : ''}`;
}
function renderJobs() {
  const rows = jobs.map((j) => {
    const pct = j.total_sheets ? Math.round((j.completed_sheets / j.total_sheets) * 100) : 0;
    const end = j.ended_at ?? Date.now() / 1000;
    return `<tr data-job="${esc(j.job_id)}"><td><a href="#/jobs/${encodeURIComponent(j.job_id)}">${esc(j.name)}</a><div class="sub">${esc(j.job_id)}</div></td>
      <td class="status">${badge(j.status, STATUS_COLOR[j.status])}</td>
      <td><div class="bar"><div class="blue" style="width:${pct}%"></div></div><span class="sub progress">${esc(progressText(j))}</span></td>
      ${jobCostCells(j, snapshot)}
      <td title="${esc(fullTime(j.submitted_at))}">${clock(j.submitted_at)}</td><td>${j.started_at ? age(end - j.started_at) : '—'}</td></tr>`;
  });
  $('jobs-table').tBodies[0].innerHTML = rows.join('') || '<tr><td colspan="8" class="sub">No jobs yet — submit one: <code>mzt submit -- echo hello</code></td></tr>';
}

/* ---------- timelines ---------- */
const timeline = [];
const allEvents = [];
function pushCapped(list, item, max) {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}
let rateCount = 0;
setInterval(() => { $('events-rate').textContent = rateCount ? `(${rateCount} ev/s)` : ''; rateCount = 0; }, 1000);

function onDurable(e) {
  if (!e || typeof e.seq !== 'number') return;
  if (probe.received.size >= 5000) probe.received.delete(probe.received.keys().next().value);
  probe.received.set(e.seq, Date.now());
  rateCount++;
  pushCapped(timeline, e, TIMELINE_MAX);
  pushCapped(allEvents, e, ALL_EVENTS_MAX);
  schedule('timeline');
  if (route.view === 'events') schedule('allEvents');
  if (e.type.startsWith('job.') || e.type.startsWith('sheet.')) refreshJobs();
}

function startEvents() {
  // Every durable event type arrives under its own SSE name: listen to the families we know,
  // plus the generic "message" for anything else.
  const handlers = { lagged: () => {}, conductor: (d) => { setConnected(d.connected); if (d.connected) refreshJobs(); } };
  for (const t of KNOWN_TYPES) handlers[t] = onDurable;
  liveStream((since) => api('events', since ? { since } : { tail: 200 }), handlers, { onOpen: refreshJobs });
}
/* SSE events are named by event type and EventSource dispatches by name: the server lists the
 * types (from protocol/schemas/events.json); this copy is only the fallback. */
let KNOWN_TYPES = [
  'daemon.started', 'daemon.stopping', 'job.submitted', 'job.queued', 'job.started', 'job.completed', 'job.failed',
  'job.cancelled', 'job.interrupted', 'sheet.started', 'sheet.completed', 'sheet.failed',
];

/* ---------- routing ---------- */
const route = { view: 'overview' };
function onRoute() {
  const h = location.hash || '#/';
  const m = /^#\/jobs\/(.+)$/.exec(h);
  route.view = m ? 'job' : h === '#/events' ? 'events' : h === '#/fleet' ? 'fleet' : 'overview';
  for (const v of ['overview', 'job', 'events', 'fleet']) $(`view-${v}`).classList.toggle('hidden', route.view !== v);
  if (route.view === 'fleet') openFleet(); // fleet.js
  else closeFleet();
  if (route.view === 'job') openJob(decodeURIComponent(m[1]));
  else {
    for (const s of jobStreams) s.close();
    jobStreams = [];
  }
  if (route.view === 'events') schedule('allEvents');
}
window.addEventListener('hashchange', onRoute);
bindProcessToggles(() => { schedule('timeline'); schedule('allEvents'); schedule('jobEvents'); schedule('fleet'); });

fetch(api('event-types'))
  .then((r) => (r.ok ? r.json() : null))
  .then((body) => { if (body?.types?.length) KNOWN_TYPES = body.types; })
  .catch(() => undefined)
  .finally(() => {
    loadHistory().finally(startMonitor);
    startEvents();
    refreshJobs();
    onRoute();
  });
