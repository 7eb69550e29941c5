/**
 * Where the conductor keeps things. Everything lives under MZT_HOME (default ~/.mzt) so a
 * test or a second user can run a private conductor by pointing MZT_HOME elsewhere.
 */
import os from 'node:os';
import path from 'node:path';

export interface ConductorPaths {
  home: string;
  /** 0700 directory holding the socket and the pid file. */
  runDir: string;
  socketPath: string;
  pidFile: string;
  /** Held (O_EXCL) only while a starting conductor checks for a live one and binds. */
  startLockFile: string;
  eventsDb: string;
  monitorDb: string;
  monitorJsonl: string;
  jobsDir: string;
  configFile: string;
  /** Where `mzt conductor start --detach` sends the conductor's output. */
  logFile: string;
  /** The dashboard's generated token (0600), kept across restarts; unused when one is configured. */
  dashboardTokenFile: string;
}

export function resolveHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.MZT_HOME;
  if (fromEnv && fromEnv.trim() !== '') return path.resolve(fromEnv);
  return path.join(os.homedir(), '.mzt');
}

export function conductorPaths(home = resolveHome(), env: NodeJS.ProcessEnv = process.env): ConductorPaths {
  const runDir = path.join(home, 'run');
  const socketFromEnv = env.MZT_SOCKET && env.MZT_SOCKET.trim() !== '' ? path.resolve(env.MZT_SOCKET) : undefined;
  return {
    home,
    runDir,
    socketPath: socketFromEnv ?? path.join(runDir, 'conductor.sock'),
    pidFile: path.join(runDir, 'conductor.pid'),
    startLockFile: path.join(runDir, 'start.lock'),
    eventsDb: path.join(home, 'events.db'),
    monitorDb: path.join(home, 'monitor.db'),
    monitorJsonl: path.join(home, 'monitor.jsonl'),
    jobsDir: path.join(home, 'jobs'),
    configFile: path.join(home, 'config.json'),
    logFile: path.join(home, 'conductor.log'),
    dashboardTokenFile: path.join(runDir, 'dashboard.token'),
  };
}

/** Job ids become directory names, so they are validated before touching the filesystem. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export function isValidJobId(id: unknown): id is string {
  return typeof id === 'string' && JOB_ID_PATTERN.test(id) && id !== '.' && id !== '..';
}

export function jobDir(paths: ConductorPaths, jobId: string): string {
  if (!isValidJobId(jobId)) throw new Error(`invalid job id: ${JSON.stringify(jobId)}`);
  return path.join(paths.jobsDir, jobId);
}
