/* The fleet view (#/fleet): every host of the fleet with its state and load, the jobs they
 * report, and the fleet's event timeline — read through this conductor (api/fleet/*), which
 * reads NATS with its fleet worker. The Fleet link shows only while the conductor is up and in a fleet.
 * While the view is open it polls: hosts every 3 s, the stream every 2 s from the last stream
 * seq it has (bounded answers); at most FLEET_EVENTS_MAX events and FLEET_JOBS_MAX jobs are kept
 * on screen. Loaded before app.js; uses its helpers (esc, clock, badge, ...) at run time. */
'use strict';

const FLEET_EVENTS_MAX = 500;
const FLEET_JOBS_MAX = 200;
const FLEET_HOSTS_MS = 3000;
const FLEET_EVENTS_MS = 2000;

/** State, and what the browser test reads. */
const fleet = (window.mztFleet = { available: null, self: null, hosts: [], events: [], lastStreamSeq: undefined, skipped: 0, error: null, polls: 0, eventPolls: 0 });
let fleetTimers = [];
// Bumped by closeFleet: a poll that was in flight when the view closed (or reopened) drops its answer.
let fleetGeneration = 0;

async function fleetGet(path, params) {
  const r = await fetch(api(path, params));
  const body = await r.json().catch(() => ({}));
  return { status: r.status, body };
}

/**
 * Whether this conductor is in a fleet and its host name, from daemon.status's `fleet` (null
 * without config `fleet`): no NATS query for it. Unknown (null) while the conductor is down.
 * Asked again whenever the conductor comes back (setConnected): a restart may change its config.
 */
async function checkFleet() {
  const status = await fetch(api('status')).then((r) => (r.ok ? r.json() : null)).catch(() => null);
  const conductor = status?.conductor ?? null;
  fleet.available = conductor ? conductor.fleet != null : null;
  fleet.self = conductor?.fleet?.host ?? null;
  if (fleet.available === false) fleet.error = null;
  showFleetLink();
  if (route.view !== 'fleet') return;
  if (fleet.available && fleetTimers.length === 0) openFleet(); // in a fleet since the view was opened
  else renderFleet();
}

/** The Fleet link shows only while the conductor is up and in a fleet. */
function showFleetLink() {
  $('nav-fleet').classList.toggle('hidden', !(connected && fleet.available));
}

function openFleet() {
  closeFleet();
  renderFleet();
  if (fleet.available === false) return;
  const generation = fleetGeneration;
  const pollHosts = async () => {
    const r = await fleetGet('fleet/hosts').catch((e) => ({ status: 0, body: { error: `dashboard unreachable: ${e.message}` } }));
    if (generation !== fleetGeneration) return;
    if (r.body.in_fleet === false) {
      [fleet.available, fleet.error] = [false, r.body.message];
      closeFleet();
    } else if (r.status === 200) {
      fleet.hosts = r.body.hosts;
      fleet.error = null;
    } else fleet.error = r.body.error || `HTTP ${r.status}`;
    fleet.polls++;
    renderFleet();
  };
  const pollEvents = async () => {
    const since = fleet.lastStreamSeq;
    const params = since === undefined ? { limit: 200 } : { since_stream_seq: since, limit: FLEET_EVENTS_MAX };
    const r = await fleetGet('fleet/events', params).catch(() => null);
    if (generation !== fleetGeneration || r?.status !== 200) return; // closed meanwhile; or pollHosts says why
    fleet.eventPolls++;
    fleet.lastStreamSeq = r.body.last_stream_seq;
    fleet.skipped += r.body.skipped;
    if (since !== undefined && r.body.last_stream_seq < since) fleet.events = []; // the stream was made anew
    // Newest first, each stream seq once.
    const newest = fleet.events[0]?.stream_seq ?? -1;
    const fresh = r.body.events.filter((e) => e.stream_seq > newest);
    if (fresh.length) fleet.events = [...fresh, ...fleet.events].slice(0, FLEET_EVENTS_MAX);
    renderFleet();
  };
  const every = (fn, ms) => {
    let timer;
    let stopped = false;
    const run = async () => {
      await fn();
      if (!stopped) timer = setTimeout(run, ms); // the next poll after this one's answer: never two at once
    };
    void run();
    return { stop: () => ((stopped = true), clearTimeout(timer)) };
  };
  fleetTimers = [every(pollHosts, FLEET_HOSTS_MS), every(pollEvents, FLEET_EVENTS_MS)];
}

function closeFleet() {
  for (const t of fleetTimers) t.stop();
  fleetTimers = [];
  fleetGeneration++;
}

/** Only this conductor's own jobs have a job page here. */
const link = (j) => (j.host === fleet.self ? `<a href="#/jobs/${encodeURIComponent(j.job_id)}">${esc(j.job_id)}</a>` : esc(j.job_id));
const yesNo = (v) => badge(v ? 'yes' : 'no', v ? 'green' : 'orange');

function renderFleetHosts() {
  const rows = fleet.hosts.map((h) => {
    const used = h.running_jobs + h.queued_jobs;
    const pct = h.max_concurrent_jobs > 0 ? Math.min(100, (100 * used) / h.max_concurrent_jobs) : 100;
    const lag = h.export_lag_events == null ? '—' : h.export_lag_events.toLocaleString();
    return `<tr data-host="${esc(h.host)}"><td>${esc(h.host)}${h.host === fleet.self ? ' <span class="sub">(this one)</span>' : ''}</td>
      <td>${badge(h.state, h.state === 'up' ? 'green' : 'orange')}</td><td>${esc(h.version)}</td>
      <td class="num">${h.running_jobs}</td><td class="num">${h.queued_jobs}</td><td class="num">${h.paused_jobs}</td>
      <td>${used} / ${h.max_concurrent_jobs}<div class="bar"><div style="width:${pct}%"></div></div></td>
      <td>${badge(h.pressure_level, PRESSURE_COLOR[h.pressure_level])}</td><td>${yesNo(h.accepting_work)}</td>
      <td class="num" title="exported up to #${h.exported_seq}">${lag}</td><td title="${esc(fullTime(h.last_seen))}">${age(h.age_seconds)} ago</td></tr>`;
  });
  $('fleet-hosts').querySelector('tbody').innerHTML = rows.join('') || '<tr><td colspan="11" class="sub">No live host in the fleet</td></tr>';
  $('fleet-hosts-count').textContent = `(${fleet.hosts.length})`;
}

function renderFleetJobs() {
  const all = fleet.hosts.flatMap((h) => h.jobs.map((j) => ({ ...j, host: h.host })));
  all.sort((a, b) => b.submitted_at - a.submitted_at);
  const shown = all.slice(0, FLEET_JOBS_MAX);
  $('fleet-jobs').querySelector('tbody').innerHTML = shown
    .map((j) => `<tr data-job="${esc(j.job_id)}" data-host="${esc(j.host)}"><td>${esc(j.host)}</td><td>${link(j)}</td><td>${badge(j.status, STATUS_COLOR[j.status])}</td><td>${esc(j.name)}</td><td title="${esc(fullTime(j.submitted_at))}">${clock(j.submitted_at)}</td></tr>`)
    .join('') || '<tr><td colspan="5" class="sub">No jobs reported</td></tr>';
  $('fleet-jobs-count').textContent = all.length > shown.length ? `(newest ${shown.length} of ${all.length})` : `(${all.length})`;
}

function renderFleetTimeline() {
  const shown = timelineView.showProcess ? fleet.events : fleet.events.filter((f) => !f.event.type.startsWith('process.'));
  $('fleet-timeline').innerHTML = shown.map(({ stream_seq, host, event: e }) => {
    const kind = e.type.split('.')[0];
    return `<li class="ev ${esc(kind)} ${outcomeOf(e)}" data-stream-seq="${stream_seq}" data-host="${esc(host)}" data-type="${esc(e.type)}"><span class="ts" title="${esc(fullTime(e.ts))}">${clock(e.ts)}</span>
      <span class="badge gray">${esc(host)}</span> <span class="seq">#${e.seq}</span> <span class="type">${esc(e.type)}</span>${e.job_id ? ` ${link({ host, job_id: e.job_id })}` : ''}
      <span class="sub">${esc(summarize(e))}</span></li>`;
  }).join('');
  $('fleet-events-count').textContent = `(newest ${shown.length}${fleet.skipped ? `; ${fleet.skipped} skipped while busy` : ''})`;
}

function renderFleet() {
  $('fleet-off').classList.toggle('hidden', fleet.available !== false);
  $('fleet-on').classList.toggle('hidden', fleet.available === false);
  $('fleet-off').textContent = fleet.error || 'This conductor is not in a fleet (its config.json has no "fleet")';
  $('fleet-error').classList.toggle('hidden', !fleet.error || fleet.available === false);
  $('fleet-error').textContent = fleet.error ? `The fleet cannot be read now: ${fleet.error}` : '';
  if (fleet.available === false || paused) return;
  renderFleetHosts();
  renderFleetJobs();
  renderFleetTimeline();
}
