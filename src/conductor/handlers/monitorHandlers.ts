/**
 * The monitor's methods: the latest snapshot, and history read from the monitor's storage
 * (snapshots, per-minute aggregates, one process, one job, a job's resource report).
 */
import { ErrorCode, ProtocolError } from '../../ipc/messages.js';
import type { Handlers } from '../../ipc/methodTable.js';
import type { MonitorStorage } from '../../storage/monitorStorage.js';
import { buildResourceReport } from '../../storage/resourceReport.js';
import { notFound, type MethodDeps } from './methodDeps.js';

type MonitorMethod = 'monitor.history' | 'monitor.process_history' | 'monitor.job_history' | 'monitor.resource_report' | 'monitor.snapshot';

/** An hour back when the caller names no start. */
const lastHour = (since: number | undefined) => since ?? Date.now() / 1000 - 3600;

export function monitorHandlers(deps: MethodDeps): Pick<Handlers, MonitorMethod> {
  const { store } = deps;
  const storage = (): MonitorStorage => {
    const running = deps.monitoring()?.storage;
    if (!running) throw new ProtocolError(ErrorCode.NOT_AVAILABLE, 'monitor storage is not running');
    return running;
  };
  return {
    'monitor.history': (p) => {
      const history = storage();
      const since = lastHour(p.since);
      return p.resolution === 'minute'
        ? { resolution: 'minute', since, minutes: history.readMinutes(since, p.limit) }
        : { resolution: 'full', since, snapshots: history.readSnapshots(since, p.limit) };
    },

    'monitor.process_history': (p) => {
      const history = storage();
      const since = lastHour(p.since);
      return { pid: p.pid, since, samples: history.readProcessHistory(p.pid, since, p.limit) };
    },

    'monitor.job_history': (p) => {
      const history = storage();
      const job = store.getJob(p.job_id);
      if (!job) throw notFound(p.job_id);
      const since = p.since ?? job.started_at ?? job.submitted_at;
      return { job_id: p.job_id, since, samples: history.readJobHistory(p.job_id, since, p.limit) };
    },

    'monitor.resource_report': (p) => {
      const history = storage();
      const job = store.getJob(p.job_id);
      const costs = history.jobCosts(p.job_id);
      if (!job && costs.length === 0) throw notFound(p.job_id);
      const events = store.read(0, 10_000, { job_id: p.job_id, types: ['process.'] });
      return buildResourceReport(p.job_id, job, costs, events);
    },

    'monitor.snapshot': () => {
      const snapshot = deps.monitoring()?.profiler.latest();
      if (!snapshot) {
        const probe = deps.monitoring()?.profiler.latestProbe();
        throw new ProtocolError(
          ErrorCode.NOT_AVAILABLE,
          probe && !probe.ok ? `no snapshot: the process probe is failing (${probe.error})` : 'no snapshot has been taken yet',
        );
      }
      return snapshot;
    },
  };
}
