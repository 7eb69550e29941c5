/* The job page: its record and sheets, live status and events (SSE), the live log tail, and
 * (jobCost.js) what it costs. Loaded before app.js; uses its helpers at run time. */
'use strict';

let jobStreams = [];
let job = null;
let jobEvents = [];
let logLines = [];
let jobFetch = null;
function openJob(id) {
  for (const s of jobStreams) s.close();
  clearTimeout(jobFetch);
  jobFetch = null;
  job = { job_id: id, status: 'loading', sheets: [] };
  jobEvents = [];
  logLines = [];
  $('log').textContent = '';
  // This job's charts start over (a chart keeps its series, so drop the previous job's).
  for (const id of ['chart-job-cpu', 'chart-job-rss']) {
    charts[id]?.destroy();
    delete charts[id];
  }
  void openJobCost(id, () => schedule('jobCost'));
  schedule('job');
  schedule('jobEvents');
  const fetchJob = () => {
    if (jobFetch) return;
    jobFetch = setTimeout(async () => {
      jobFetch = null;
      const r = await fetch(api(`jobs/${encodeURIComponent(id)}`)).catch(() => null);
      const body = r ? await r.json().catch(() => ({})) : null;
      if (job?.job_id !== id) return; // another job was opened meanwhile
      if (r?.ok) { job = body; schedule('job'); schedule('jobCost'); }
      else if (r) { job = { job_id: id, status: 'unknown', sheets: [], error: body.error }; schedule('job'); }
    }, 100);
  };
  fetchJob();
  const onJobEvent = (e) => { pushCapped(jobEvents, e, ALL_EVENTS_MAX); schedule('jobEvents'); };
  const handlers = {
    job_status: (d) => { job = { ...job, ...d }; schedule('job'); fetchJob(); },
    job_finished: (d) => { job = { ...job, status: d.final_status }; schedule('job'); fetchJob(); statusStream.close(); },
  };
  for (const t of KNOWN_TYPES) handlers[t] = onJobEvent;
  const statusStream = liveStream((since) => api(`jobs/${encodeURIComponent(id)}/stream`, since ? { since } : {}), handlers);
  const logStream = liveStream((since) => api(`jobs/${encodeURIComponent(id)}/logs`, { ...(since ? { since } : { tail_lines: 500 }), follow: $('log-follow').checked }), {
    log: (d) => { logLines.push(d); probe.logLines++; if (logLines.length > LOG_MAX_LINES) logLines.splice(0, logLines.length - LOG_MAX_LINES); schedule('log'); },
    log_complete: () => logStream.close(),
  });
  jobStreams = [statusStream, logStream];
  $('job-download').href = api(`jobs/${encodeURIComponent(id)}/logs/static`);
}
function renderJob() {
  if (!job) return;
  $('job-title').textContent = job.name && job.name !== job.job_id ? `${job.name} (${job.job_id})` : job.job_id;
  const st = $('job-status');
  st.className = `badge ${STATUS_COLOR[job.status] || 'gray'}`;
  st.textContent = job.status;
  const pct = job.total_sheets ? Math.round((job.completed_sheets / job.total_sheets) * 100) : 0;
  $('job-bar').style.width = `${pct}%`;
  $('job-bar').className = 'blue';
  $('job-sub').textContent = job.error ?? `sheets ${job.total_sheets === undefined ? '?' : progressText(job)} · submitted ${fullTime(job.submitted_at)}${job.reason ? ` · ${job.reason}` : ''}`;
  $('sheets-table').tBodies[0].innerHTML = (job.sheets || []).map((s) => `<tr><td>${s.sheet_num}</td><td>${esc(s.name ?? '')}</td>
    <td>${badge(s.status, STATUS_COLOR[s.status])}</td><td>${s.pid ?? '—'}</td><td>${s.exit_code ?? (s.signal ? esc(s.signal) : '—')}</td>
    <td>${s.duration_seconds != null ? age(s.duration_seconds) : '—'}</td><td><code>${esc((s.argv || []).join(' '))}</code></td></tr>`).join('');
}
function renderLog() {
  const el = $('log');
  const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - 20;
  el.innerHTML = logLines.map((l) => `<span class="${esc(l.stream || '')}">${esc(l.line)}</span>`).join('\n');
  if (atBottom) el.scrollTop = el.scrollHeight;
}

