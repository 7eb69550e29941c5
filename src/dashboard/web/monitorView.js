/* The overview's monitor part: snapshots kept as chart series, the summary cards, the charts
 * and the process table. Loaded before app.js; uses its helpers at run time. */
'use strict';

let snapshot = null;
const series = { t: [], mem: [], load: [], cpu: [], rss: [] };

/** One chart point per snapshot, in time order (history and live may overlap), at most CHART_POINTS. */
function addPoint(s) {
  const last = series.t.at(-1);
  if (last !== undefined && s.timestamp <= last) return;
  series.t.push(s.timestamp);
  series.mem.push(s.system_memory_used_mb);
  series.load.push(s.load_avg_1);
  series.cpu.push(s.conductor?.cpu_percent ?? s.daemon_cpu_percent ?? null);
  series.rss.push(s.conductor?.rss_mb ?? s.daemon_rss_mb);
  if (series.t.length > CHART_POINTS) for (const k of Object.keys(series)) series[k].shift();
}

function onSnapshot(s) {
  if (!s || typeof s !== 'object' || !('timestamp' in s)) return;
  snapshot = s;
  probe.snapshots++;
  probe.lastSnapshot = s;
  addPoint(s);
  schedule('cards');
  schedule('charts');
  schedule('processes');
  schedule('jobs');
  schedule('topJobs');
  if (route.view === 'job') {
    jobCostSnapshot(s);
    schedule('jobCost');
  }
}

/** The charts open with the last minutes the conductor stored, then go on live. */
async function loadHistory() {
  try {
    const r = await fetch(api('monitor/history', { since: Date.now() / 1000 - CHART_POINTS, limit: CHART_POINTS }));
    if (!r.ok) return;
    const { snapshots } = await r.json();
    for (const s of snapshots) addPoint(s);
    schedule('charts');
  } catch { /* live data fills the charts anyway */ }
}

function startMonitor() {
  liveStream(() => api('monitor/stream'), {
    connected: (d) => { $('source').textContent = d.source; setConnected(d.source === 'daemon'); },
    snapshot: onSnapshot,
    conductor: (d) => setConnected(d.connected),
    heartbeat: (d) => { if (d.connected !== undefined && d.connected !== connected && $('source').textContent === 'daemon') setConnected(d.connected); },
  }, {
    onOpen: () => {},
    onFail: () => {
      setConnected(false);
      $('source').textContent = 'none';
    },
  });
}

function renderCards() {
  const s = snapshot;
  if (!s) return;
  $('c-conductor').innerHTML = `${connected === false ? badge('DOWN', 'red') : badge('UP', 'green')} <span class="sub">pid ${esc(s.daemon_pid)}</span>`;
  $('c-conductor-sub').textContent = `up ${age(s.conductor_uptime_seconds)} · ${mb(s.daemon_rss_mb)} · ${s.daemon_cpu_percent == null ? '—' : s.daemon_cpu_percent.toFixed(1)}% CPU`;
  const pct = s.system_memory_total_mb ? (s.system_memory_used_mb / s.system_memory_total_mb) * 100 : 0;
  $('c-mem').textContent = `${mb(s.system_memory_used_mb)} / ${mb(s.system_memory_total_mb)}`;
  const bar = $('c-mem-bar');
  bar.style.width = `${pct.toFixed(1)}%`;
  bar.className = pct > 90 ? 'red' : pct > 70 ? 'yellow' : 'green';
  $('c-mem-sub').textContent = `${mb(s.system_memory_available_mb)} available`;
  $('c-load').textContent = s.load_avg_1?.toFixed(2) ?? '—';
  $('c-load-sub').textContent = `5 min ${s.load_avg_5?.toFixed(2)} · 15 min ${s.load_avg_15?.toFixed(2)} · ${s.cpu_count ?? '?'} cores`;
  $('c-work').textContent = `${s.running_jobs} job${s.running_jobs === 1 ? '' : 's'}`;
  $('c-work-sub').textContent = `${s.active_sheets} active sheet(s) · ${s.processes.length} processes`;
  $('c-pressure').innerHTML = badge(String(s.pressure_level).toUpperCase(), PRESSURE_COLOR[s.pressure_level]);
  $('c-pressure-sub').textContent = s.conductor ? `sampling ${s.conductor.sample_duration_ms?.toFixed(1)} ms every ${s.conductor.interval_seconds}s` : '';
  const z = $('zombies');
  if (s.zombie_count > 0) {
    z.className = 'banner warn';
    z.textContent = `${s.zombie_count} zombie process(es): ${s.zombie_pids.join(', ')}`;
  } else z.className = 'banner warn hidden';
  const gpus = $('gpus');
  if (s.gpus?.length) {
    gpus.className = 'cards';
    gpus.innerHTML = s.gpus.map((g) => `<div class="card"><h3>GPU ${esc(g.index)}</h3>
      <div class="big">${esc(g.utilization_pct ?? '—')}%</div>
      <div class="bar"><div class="green" style="width:${Number(g.utilization_pct) || 0}%"></div></div>
      <div class="sub">VRAM ${mb(g.memory_used_mb)} / ${mb(g.memory_total_mb)} · ${esc(g.temperature_c ?? '—')} °C</div></div>`).join('');
  } else gpus.className = 'cards hidden';
  $('last-updated').textContent = clock(s.timestamp);
}

function renderCharts() {
  if (typeof uPlot === 'undefined' || series.t.length < 2) return;
  drawChart('chart-mem', [{ label: 'used MB', stroke: '#4a90d9' }], [series.t, series.mem]);
  drawChart('chart-load', [{ label: 'load 1m', stroke: '#d9904a' }], [series.t, series.load]);
  drawChart('chart-conductor', [{ label: 'CPU %', stroke: '#c0392b' }, { label: 'RSS MB', stroke: '#27ae60' }], [series.t, series.cpu, series.rss]);
}

const charts = {};
// A chart is drawn at a fixed width: follow its box when the window changes size (a chart wider
// than its box would push the page sideways).
window.addEventListener('resize', () => {
  for (const [id, chart] of Object.entries(charts)) {
    const el = $(id);
    if (el && el.clientWidth) chart.setSize({ width: Math.max(200, el.clientWidth), height: 140 });
  }
});
function drawChart(id, lines, data) {
  const el = $(id);
  if (!el) return;
  if (!charts[id]) {
    const width = Math.max(200, el.clientWidth || 300);
    charts[id] = new uPlot({
      width, height: 140, legend: { show: true }, cursor: { drag: { x: false, y: false } },
      // Time in the page's one format (uPlot's own would add "12/7/26 12:00am").
      series: [{ value: (u, v) => (v == null ? '--' : clock(v)) }, ...lines.map((l) => ({ ...l, width: 1.5, spanGaps: true }))],
      axes: [{ stroke: '#999', values: (u, vals) => vals.map((v) => clock(v)) }, { stroke: '#999' }],
    }, data, el);
  } else charts[id].setData(data);
}


let procSort = 'cpu';
function renderProcesses() {
  const s = snapshot;
  if (!s) return;
  $('proc-count').textContent = `(${s.processes.length})`;
  if (!s.processes.length) {
    $('processes').innerHTML = '<p class="sub">No active processes</p>';
    return;
  }
  const key = { cpu: (p) => -(p.cpu_percent ?? -1), mem: (p) => -p.rss_mb, pid: (p) => p.pid }[procSort];
  const groups = new Map();
  for (const p of s.processes) {
    const g = p.job_id ?? '';
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(p);
  }
  const names = [...groups.keys()].sort((a, b) => (a === '' ? 1 : b === '' ? -1 : a.localeCompare(b)));
  let html = '<table class="grid procs"><thead><tr><th>PID</th><th>Command</th><th>State</th><th>CPU %</th><th>RSS</th><th>GPU mem</th><th>Threads</th><th>FDs</th><th>Age</th></tr></thead>';
  for (const name of names) {
    const procs = groups.get(name).sort((a, b) => key(a) - key(b));
    const label = name === '' ? 'System / conductor' : `Job <a href="#/jobs/${encodeURIComponent(name)}">${esc(name)}</a>${procs[0].sheet_num != null ? ` (sheet ${esc(procs[0].sheet_num)})` : ''}`;
    // A job's totals are its cost (job_costs: exited children's CPU included), not a sum of these rows.
    const c = name === '' ? null : liveCost(s, name);
    const totals = c ? `CPU ${pctText(c.cpu_percent)} · RSS ${mb(c.rss_mb)} · CPU time ${cpuTimeText(c.cpu_seconds)}` : mb(procs.reduce((a, p) => a + p.rss_mb, 0));
    html += `<tbody><tr class="group" data-group="${esc(name)}"><td colspan="9">${label} · ${procs.length} process(es) · ${totals}</td></tr>`;
    for (const p of procs) {
      const cmd = String(p.command ?? '');
      const cpu = p.cpu_percent;
      html += `<tr data-pid="${p.pid}"><td>${p.pid}</td><td title="${esc(cmd)}">${esc(cmd.length > 60 ? `${cmd.slice(0, 57)}...` : cmd)}</td>
        <td>${badge(p.state, { R: 'green', S: 'gray', D: 'yellow', Z: 'red', T: 'purple' }[p.state])}</td>
        <td class="${cpu > 80 ? 'hot' : ''}">${cpu == null ? '—' : cpu.toFixed(1)}</td><td>${mb(p.rss_mb)}</td><td>${p.gpu_memory_mb === undefined ? '' : mb(p.gpu_memory_mb)}</td>
        <td>${p.threads ?? '—'}</td><td>${p.open_fds ?? '—'}</td><td>${age(p.age_seconds)}</td></tr>`;
    }
    html += '</tbody>';
  }
  $('processes').innerHTML = `${html}</table>`;
}
