/**
 * MonitorStorage: the history of snapshots and the per-job cost ledger, in SQLite
 * (`$MZT_HOME/monitor.db`, WAL), apart from the event log.
 *
 * - A snapshot is stored whole, as one JSON row: reading N snapshots back is one query and
 *   loses nothing (Marianne's reader did a query per snapshot and dropped fields).
 * - Each snapshot also updates a per-minute aggregate row (averages and maxima), kept for
 *   days after the full-resolution rows are gone.
 * - The ledger keeps, per job and sheet, peak RSS (sum over the sheet's processes), CPU
 *   seconds (exited descendants included, from the probe's per-tag accounting), max CPU%, and
 *   the distinct pids seen. It outlives the job and conductor restarts.
 */
import Database from 'better-sqlite3';
import type { LedgerSheetCost, SystemSnapshot } from '../monitor/snapshot.js';
import type { TagCpu } from '../probe/types.js';
import { SQLITE_CACHE_SIZE } from '../events/store.js';

export interface MinuteRow {
  minute: number;
  samples: number;
  system_memory_used_mb_avg: number;
  load_avg_1_avg: number;
  daemon_rss_mb_avg: number;
  daemon_rss_mb_max: number;
  daemon_cpu_percent_avg: number | null;
  processes_avg: number;
  processes_max: number;
}

export interface RetentionPolicy {
  fullResolutionHours: number;
  downsampledDays: number;
}

export class MonitorStorage {
  private readonly db: Database.Database;
  private readonly insertSnapshot: Database.Statement;
  private readonly upsertMinute: Database.Statement;
  private readonly upsertCost: Database.Statement;
  private readonly insertPid: Database.Statement;
  private readonly selectCosts: Database.Statement;
  /** Per tag without processes: the CPU figures last written (an ended job's account no longer changes). */
  private readonly writtenCpu = new Map<string, string>();

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma(`cache_size = ${SQLITE_CACHE_SIZE}`);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS snapshots (id INTEGER PRIMARY KEY, ts REAL NOT NULL, body TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS snapshots_ts ON snapshots (ts);
      CREATE TABLE IF NOT EXISTS snapshot_minutes (
        minute INTEGER PRIMARY KEY, samples INTEGER NOT NULL,
        mem_used_sum REAL NOT NULL, load1_sum REAL NOT NULL,
        daemon_rss_sum REAL NOT NULL, daemon_rss_max REAL NOT NULL,
        daemon_cpu_sum REAL NOT NULL, daemon_cpu_samples INTEGER NOT NULL,
        processes_sum REAL NOT NULL, processes_max INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS job_costs (
        job_id TEXT NOT NULL, sheet_num INTEGER NOT NULL,
        peak_rss_mb REAL NOT NULL DEFAULT 0, cpu_seconds REAL NOT NULL DEFAULT 0,
        exited_cpu_seconds REAL NOT NULL DEFAULT 0, max_cpu_percent REAL NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL, PRIMARY KEY (job_id, sheet_num));
      CREATE TABLE IF NOT EXISTS job_pids (job_id TEXT NOT NULL, sheet_num INTEGER NOT NULL, pid INTEGER NOT NULL,
        PRIMARY KEY (job_id, sheet_num, pid));
    `);
    // Added after the first release: older databases get the column here.
    const costColumns = this.db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('job_costs') as string[];
    if (!costColumns.includes('gpu_memory_peak_mb')) this.db.exec('ALTER TABLE job_costs ADD COLUMN gpu_memory_peak_mb REAL');
    this.insertSnapshot = this.db.prepare('INSERT INTO snapshots (ts, body) VALUES (?, ?)');
    this.upsertMinute = this.db.prepare(`
      INSERT INTO snapshot_minutes VALUES (@minute, 1, @mem, @load1, @rss, @rss, @cpu, @cpuN, @procs, @procs)
      ON CONFLICT(minute) DO UPDATE SET samples = samples + 1, mem_used_sum = mem_used_sum + @mem,
        load1_sum = load1_sum + @load1, daemon_rss_sum = daemon_rss_sum + @rss,
        daemon_rss_max = MAX(daemon_rss_max, @rss), daemon_cpu_sum = daemon_cpu_sum + @cpu,
        daemon_cpu_samples = daemon_cpu_samples + @cpuN, processes_sum = processes_sum + @procs,
        processes_max = MAX(processes_max, @procs)`);
    // sheet_num -1 stands for "the job, no particular sheet" (SQLite keys cannot be NULL-unique).
    this.upsertCost = this.db.prepare(`
      INSERT INTO job_costs (job_id, sheet_num, peak_rss_mb, cpu_seconds, exited_cpu_seconds, max_cpu_percent, updated_at, gpu_memory_peak_mb)
      VALUES (@job, @sheet, @rss, @cpu, @exited, @maxcpu, @now, @gpu)
      ON CONFLICT(job_id, sheet_num) DO UPDATE SET peak_rss_mb = MAX(peak_rss_mb, @rss),
        cpu_seconds = MAX(cpu_seconds, @cpu), exited_cpu_seconds = MAX(exited_cpu_seconds, @exited),
        max_cpu_percent = MAX(max_cpu_percent, @maxcpu), updated_at = @now,
        gpu_memory_peak_mb = CASE WHEN @gpu IS NULL THEN gpu_memory_peak_mb
          WHEN gpu_memory_peak_mb IS NULL THEN @gpu ELSE MAX(gpu_memory_peak_mb, @gpu) END`);
    this.insertPid = this.db.prepare('INSERT OR IGNORE INTO job_pids VALUES (?, ?, ?)');
    // Prepared once: job.list reads the ledger of every ended job it returns.
    this.selectCosts = this.db.prepare(
      `SELECT c.sheet_num, c.peak_rss_mb, c.cpu_seconds, c.exited_cpu_seconds, c.max_cpu_percent, c.gpu_memory_peak_mb,
              (SELECT COUNT(*) FROM job_pids p WHERE p.job_id = c.job_id AND p.sheet_num = c.sheet_num) AS pids_seen
       FROM job_costs c WHERE c.job_id = ? ORDER BY c.sheet_num`,
    );
  }

  /**
   * Store a snapshot, its minute aggregate and the ledger updates, in one transaction.
   * `json`: the snapshot already serialized (JSON.stringify(s)), when the caller has it.
   */
  writeSnapshot(s: SystemSnapshot, tagCpu: TagCpu[] = [], json?: string): void {
    const perTag = new Map<string, { job: string; sheet: number; rss: number; maxcpu: number; gpu: number | null; pids: number[] }>();
    for (const p of s.processes) {
      if (p.job_id === null) continue;
      const key = `${p.job_id}\u0000${p.sheet_num ?? -1}`;
      const t = perTag.get(key) ?? { job: p.job_id, sheet: p.sheet_num ?? -1, rss: 0, maxcpu: 0, gpu: null, pids: [] };
      t.rss += p.rss_mb;
      if (p.gpu_memory_mb !== undefined) t.gpu = (t.gpu ?? 0) + p.gpu_memory_mb;
      t.maxcpu = Math.max(t.maxcpu, p.cpu_percent ?? 0);
      t.pids.push(p.pid);
      perTag.set(key, t);
    }
    const cpuByTag = new Map(tagCpu.map((c) => [`${c.job_id}\u0000${c.sheet_num ?? -1}`, c]));
    const written: Array<[string, string]> = [];
    this.db.transaction(() => {
      this.insertSnapshot.run(s.timestamp, json ?? JSON.stringify(s));
      this.upsertMinute.run({
        minute: Math.floor(s.timestamp / 60),
        mem: s.system_memory_used_mb,
        load1: s.load_avg_1,
        rss: s.daemon_rss_mb,
        cpu: s.daemon_cpu_percent ?? 0,
        cpuN: s.daemon_cpu_percent === null ? 0 : 1,
        procs: s.processes.length,
      });
      const keys = new Set([...perTag.keys(), ...cpuByTag.keys()]);
      for (const key of keys) {
        const t = perTag.get(key);
        const c = cpuByTag.get(key);
        // The tracker keeps reporting an ended job's CPU account; write it only when it changed
        // (its final ticks), not every sample — and so never bring back rows job.clear deleted.
        if (!t && c) {
          const figures = `${c.cpu_seconds}/${c.exited_cpu_seconds}`;
          if (this.writtenCpu.get(key) === figures) continue;
          written.push([key, figures]);
        }
        const [job, sheet] = key.split('\u0000') as [string, string];
        this.upsertCost.run({
          job,
          sheet: Number(sheet),
          rss: t?.rss ?? 0,
          cpu: c?.cpu_seconds ?? 0,
          exited: c?.exited_cpu_seconds ?? 0,
          maxcpu: t?.maxcpu ?? 0,
          gpu: t?.gpu ?? null,
          now: s.timestamp,
        });
        for (const pid of t?.pids ?? []) this.insertPid.run(job, Number(sheet), pid);
      }
    })();
    // Remembered once committed (a failed transaction writes them again next time).
    for (const [key, figures] of written) this.writtenCpu.set(key, figures);
    if (this.writtenCpu.size > cpuByTag.size) for (const key of this.writtenCpu.keys()) if (!cpuByTag.has(key)) this.writtenCpu.delete(key);
  }

  /** Snapshots with timestamp ≥ since, oldest first: one query, nothing lost. */
  readSnapshots(since: number, limit: number): SystemSnapshot[] {
    const rows = this.db.prepare('SELECT body FROM snapshots WHERE ts >= ? ORDER BY ts LIMIT ?').raw(true).all(since, limit) as Array<[string]>;
    return rows.map(([body]) => JSON.parse(body) as SystemSnapshot);
  }

  latest(): SystemSnapshot | undefined {
    const row = this.db.prepare('SELECT body FROM snapshots ORDER BY ts DESC LIMIT 1').raw(true).get() as [string] | undefined;
    return row ? (JSON.parse(row[0]) as SystemSnapshot) : undefined;
  }

  readMinutes(since: number, limit: number): MinuteRow[] {
    const rows = this.db
      .prepare('SELECT * FROM snapshot_minutes WHERE minute >= ? ORDER BY minute LIMIT ?')
      .all(Math.floor(since / 60), limit) as Array<Record<string, number>>;
    const r2 = (n: number) => Math.round(n * 100) / 100;
    return rows.map((r) => ({
      minute: r.minute! * 60,
      samples: r.samples!,
      system_memory_used_mb_avg: r2(r.mem_used_sum! / r.samples!),
      load_avg_1_avg: r2(r.load1_sum! / r.samples!),
      daemon_rss_mb_avg: r2(r.daemon_rss_sum! / r.samples!),
      daemon_rss_mb_max: r2(r.daemon_rss_max!),
      daemon_cpu_percent_avg: r.daemon_cpu_samples ? r2(r.daemon_cpu_sum! / r.daemon_cpu_samples) : null,
      processes_avg: r2(r.processes_sum! / r.samples!),
      processes_max: r.processes_max!,
    }));
  }

  /** One process over time (from the full-resolution snapshots). */
  readProcessHistory(pid: number, since: number, limit: number): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const s of this.readSnapshots(since, limit)) {
      const p = s.processes.find((q) => q.pid === pid);
      if (p) out.push({ timestamp: s.timestamp, ...p });
    }
    return out;
  }

  /**
   * One job's figures over time from the stored snapshots' job_costs (the job page's charts open
   * with them). SQLite's JSON functions pick the job's entry, so only those few bytes leave SQLite.
   */
  readJobHistory(jobId: string, since: number, limit: number): Array<{ timestamp: number; cpu_percent: number | null; rss_mb: number; processes: number; cpu_seconds: number }> {
    const rows = this.db
      .prepare(
        `SELECT s.ts, json_extract(j.value, '$.cpu_percent'), json_extract(j.value, '$.rss_mb'), json_extract(j.value, '$.processes'), json_extract(j.value, '$.cpu_seconds')
         FROM snapshots s, json_each(s.body, '$.job_costs') j
         WHERE s.ts >= ? AND json_extract(j.value, '$.job_id') = ? ORDER BY s.ts LIMIT ?`,
      )
      .raw(true)
      .all(since, jobId, limit) as Array<[number, number | null, number, number, number]>;
    return rows.map(([timestamp, cpu_percent, rss_mb, processes, cpu_seconds]) => ({ timestamp, cpu_percent, rss_mb, processes, cpu_seconds }));
  }

  /** The ledger of one job, per sheet (sheet_num null = processes not tied to a sheet). */
  jobCosts(jobId: string): LedgerSheetCost[] {
    const rows = this.selectCosts.all(jobId) as Array<LedgerSheetCost & { sheet_num: number }>;
    return rows.map((r) => ({ ...r, sheet_num: r.sheet_num < 0 ? null : r.sheet_num }));
  }

  /** Delete the ledger rows of these jobs (job.clear); one transaction. */
  deleteJobs(jobIds: readonly string[]): void {
    const costs = this.db.prepare('DELETE FROM job_costs WHERE job_id = ?');
    const pids = this.db.prepare('DELETE FROM job_pids WHERE job_id = ?');
    this.db.transaction(() => {
      for (const id of jobIds) {
        costs.run(id);
        pids.run(id);
      }
    })();
  }

  cleanup(policy: RetentionPolicy, now = Date.now() / 1000): { snapshots: number; minutes: number } {
    const snapshots = this.db.prepare('DELETE FROM snapshots WHERE ts < ?').run(now - policy.fullResolutionHours * 3600).changes;
    const minutes = this.db.prepare('DELETE FROM snapshot_minutes WHERE minute < ?').run(Math.floor((now - policy.downsampledDays * 86400) / 60)).changes;
    return { snapshots, minutes };
  }

  close(): void {
    this.db.close();
  }
}
