/* What each job costs, on the dashboard: the jobs table's CPU% / RSS, the overview's top jobs,
 * and the job page's live charts (opening with the stored history), peak, CPU seconds and
 * processes. Every figure is the conductor's one definition: snapshot `job_costs` while a job
 * runs, job.get's `cost` (the ledger) once it ended. Loaded before app.js. */
'use strict';

const TOP_JOBS = 5;
const JOB_CHART_POINTS = 600;

function pctText(v) {
  return v === null || v === undefined ? '—' : `${v.toFixed(1)}%`;
}

function cpuTimeText(s) {
  if (s === null || s === undefined) return '—';
  if (s < 60) return `${s.toFixed(1)}s`;
  return age(s);
}

/** The live cost of a job in the snapshot, if it is active. */
function liveCost(s, jobId) {
  return (s?.job_costs || []).find((c) => c.job_id === jobId) || null;
}

/** Jobs table cells: CPU% and RSS for a running job (live), CPU time for any measured job. */
function jobCostCells(j, s) {
  const live = j.status === 'running' || j.status === 'paused' ? liveCost(s, j.job_id) || j.cost : null;
  const c = live || j.cost;
  return `<td class="num cpu">${live ? pctText(live.cpu_percent) : '—'}</td><td class="num rss">${live ? mb(live.rss_mb) : '—'}</td><td class="num">${c ? cpuTimeText(c.cpu_seconds) : '—'}</td>`;
}

/** The overview's "top jobs": by CPU now and by memory now, from the snapshot's job_costs. */
function renderTopJobs(s, names) {
  const costs = s?.job_costs || [];
  const row = (c, value) => `<tr data-job="${esc(c.job_id)}"><td><a href="#/jobs/${encodeURIComponent(c.job_id)}">${esc(names.get(c.job_id) || c.job_id)}</a></td><td class="num">${value}</td><td class="sub">${c.processes} proc</td></tr>`;
  const table = (rows) => (rows.length ? `<table class="grid">${rows.join('')}</table>` : '<p class="sub">No job is running</p>');
  const byCpu = [...costs].sort((a, b) => (b.cpu_percent ?? -1) - (a.cpu_percent ?? -1)).slice(0, TOP_JOBS);
  const byMem = [...costs].sort((a, b) => b.rss_mb - a.rss_mb).slice(0, TOP_JOBS);
  $('top-cpu').innerHTML = table(byCpu.map((c) => row(c, pctText(c.cpu_percent))));
  $('top-mem').innerHTML = table(byMem.map((c) => row(c, mb(c.rss_mb))));
}

/* ---------- the job page ---------- */
const jobSeries = { id: null, t: [], cpu: [], rss: [] };

function pushJobPoint(t, cpu, rss) {
  if (jobSeries.t.length && t <= jobSeries.t.at(-1)) return;
  jobSeries.t.push(t);
  jobSeries.cpu.push(cpu);
  jobSeries.rss.push(rss);
  if (jobSeries.t.length > JOB_CHART_POINTS) for (const k of ['t', 'cpu', 'rss']) jobSeries[k].shift();
}

/** A new job page: empty series, then its stored history (live points keep arriving meanwhile). */
async function openJobCost(jobId, onChange) {
  jobSeries.id = jobId;
  probe.jobHistoryPoints = undefined;
  probe.jobHistoryFor = undefined;
  jobSeries.t = [];
  jobSeries.cpu = [];
  jobSeries.rss = [];
  try {
    const r = await fetch(api(`jobs/${encodeURIComponent(jobId)}/history`, { limit: JOB_CHART_POINTS }));
    if (!r.ok || jobSeries.id !== jobId) return;
    const { samples } = await r.json();
    const live = { t: jobSeries.t, cpu: jobSeries.cpu, rss: jobSeries.rss };
    jobSeries.t = [];
    jobSeries.cpu = [];
    jobSeries.rss = [];
    for (const p of samples) pushJobPoint(p.timestamp, p.cpu_percent, p.rss_mb);
    live.t.forEach((t, i) => pushJobPoint(t, live.cpu[i], live.rss[i]));
    probe.jobHistoryPoints = samples.length;
    probe.jobHistoryFor = jobId;
    onChange();
  } catch { /* the live points fill the charts anyway */ }
}

/** A snapshot arrived: the open job's point, if it is active. */
function jobCostSnapshot(s) {
  const c = jobSeries.id ? liveCost(s, jobSeries.id) : null;
  if (!c) return false;
  pushJobPoint(s.timestamp, c.cpu_percent, c.rss_mb);
  return true;
}

/** The job page's figures, charts and processes. */
function renderJobCost(s, job, drawChart) {
  if (!job || job.job_id !== jobSeries.id) return;
  const live = liveCost(s, job.job_id);
  const c = live || job.cost;
  const fig = (label, value, cls) => `<div class="card"><h3>${label}</h3><div class="big ${cls}">${value}</div></div>`;
  $('job-cost').innerHTML = c
    ? [
      fig('CPU now', live ? pctText(live.cpu_percent) : '—', 'job-cpu'),
      fig('RSS now', live ? mb(live.rss_mb) : '—', 'job-rss'),
      fig('Peak RSS', mb(c.peak_rss_mb), 'job-peak'),
      fig('CPU time', `${c.cpu_seconds.toFixed(1)} s`, 'job-cpu-seconds'),
      fig('Processes', live ? String(live.processes) : '—', 'job-procs-count'),
    ].join('')
    : '<p class="sub">Not measured yet</p>';
  if (jobSeries.t.length >= 2) {
    drawChart('chart-job-cpu', [{ label: 'CPU %', stroke: '#c0392b' }], [jobSeries.t, jobSeries.cpu]);
    drawChart('chart-job-rss', [{ label: 'RSS MB', stroke: '#27ae60' }], [jobSeries.t, jobSeries.rss]);
  }
  const procs = (s?.processes || []).filter((p) => p.job_id === job.job_id).sort((a, b) => (b.cpu_percent ?? -1) - (a.cpu_percent ?? -1));
  $('job-procs').innerHTML = procs.length
    ? `<table class="grid"><thead><tr><th>PID</th><th>Sheet</th><th>Command</th><th>State</th><th>CPU %</th><th>RSS</th><th>Age</th></tr></thead><tbody>${procs.map((p) => `<tr data-pid="${p.pid}"><td>${p.pid}</td><td>${p.sheet_num ?? '—'}</td><td class="cmd" title="${esc(p.command)}">${esc(p.command)}</td><td>${esc(p.state)}</td><td class="num">${pctText(p.cpu_percent)}</td><td class="num">${mb(p.rss_mb)}</td><td>${age(p.age_seconds)}</td></tr>`).join('')}</tbody></table>`
    : '<p class="sub">No live process</p>';
}

/** The job's latest syscall trace (`mzt trace`, a monitor.trace event): top syscalls by count. */
function renderJobTrace(events) {
  const e = [...events].reverse().find((x) => x.type === 'monitor.trace');
  const el = $('job-trace');
  if (!e) {
    el.innerHTML = '<p class="sub">None yet — <code>mzt trace JOB_ID</code> takes one</p>';
    return;
  }
  const d = e.data;
  const total = d.total_calls || 1;
  el.innerHTML = `<p class="sub">${clock(e.ts)} · ${d.pids_traced} process(es) for ${d.duration_seconds.toFixed(1)} s · ${d.total_calls} syscalls</p>
    <table class="grid"><thead><tr><th>Syscall</th><th>Calls</th><th>Share</th><th>Errors</th><th>Seconds</th></tr></thead><tbody>${d.syscalls.slice(0, 10).map((r) => `<tr data-syscall="${esc(r.syscall)}"><td>${esc(r.syscall)}</td><td class="num">${r.calls}</td><td class="num">${((100 * r.calls) / total).toFixed(1)}%</td><td class="num">${r.errors}</td><td class="num">${r.seconds.toFixed(6)}</td></tr>`).join('')}</tbody></table>`;
}
