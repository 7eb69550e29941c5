/**
 * Pressure levels from resource use against limits, with hysteresis.
 *
 * Usage is the larger of memory% (conductor AND its descendants, against max_memory_mb)
 * and process% (descendant count against max_processes). Percentages are not clamped, so
 * an overage stays visible (Marianne clamped at 100). Levels rise as soon as usage crosses
 * a threshold, and fall only once usage is `hysteresis_percent` below it, so a value
 * hovering at a threshold does not flap.
 */

export type PressureLevel = 'none' | 'low' | 'medium' | 'high' | 'critical';
export const PRESSURE_LEVELS: readonly PressureLevel[] = ['none', 'low', 'medium', 'high', 'critical'];

export interface PressureLimits {
  max_memory_mb: number;
  max_processes: number;
  /** Percent of a limit where work stops being accepted (level "high"). */
  warn_percent: number;
  /** Percent of a limit where the job to blame is shed (level "critical"): paused, then cancelled after the grace. */
  hard_percent: number;
  hysteresis_percent: number;
}

/** Fixed limits for callers without a config (tests); the conductor's come from config.ts (from the machine). */
export const DEFAULT_PRESSURE_LIMITS: PressureLimits = {
  max_memory_mb: 8192,
  max_processes: 50,
  warn_percent: 80,
  hard_percent: 95,
  hysteresis_percent: 5,
};

export interface Usage {
  memory_mb: number;
  processes: number;
}

export interface PressureReading {
  level: PressureLevel;
  memory_percent: number;
  process_percent: number;
  /** Which limit drives the level. */
  driver: 'memory' | 'processes';
}

/** Lower bound (percent) of each level; "low" and "medium" sit below the warn threshold. */
function thresholds(l: PressureLimits): Record<PressureLevel, number> {
  return { none: 0, low: l.warn_percent * 0.625, medium: l.warn_percent * 0.875, high: l.warn_percent, critical: l.hard_percent };
}

export function usagePercents(usage: Usage, limits: PressureLimits): { memory_percent: number; process_percent: number } {
  const pct = (v: number, max: number) => (max > 0 ? Math.round((v / max) * 1000) / 10 : 0);
  return { memory_percent: pct(usage.memory_mb, limits.max_memory_mb), process_percent: pct(usage.processes, limits.max_processes) };
}

/** The level for `usage`, given the level it had before (for hysteresis). */
export function evaluatePressure(usage: Usage, limits: PressureLimits, previous: PressureLevel = 'none'): PressureReading {
  const { memory_percent, process_percent } = usagePercents(usage, limits);
  const percent = Math.max(memory_percent, process_percent);
  const driver = memory_percent >= process_percent ? 'memory' : 'processes';
  const t = thresholds(limits);
  let raw: PressureLevel = 'none';
  for (const level of PRESSURE_LEVELS) if (percent >= t[level]) raw = level;
  const rank = (l: PressureLevel) => PRESSURE_LEVELS.indexOf(l);
  if (rank(raw) >= rank(previous)) return { level: raw, memory_percent, process_percent, driver };
  // Falling: step down only to the highest level whose threshold minus hysteresis is still under usage.
  let level: PressureLevel = raw;
  for (let i = rank(previous); i > rank(raw); i--) {
    const candidate = PRESSURE_LEVELS[i]!;
    if (percent >= t[candidate] - limits.hysteresis_percent) {
      level = candidate;
      break;
    }
  }
  return { level, memory_percent, process_percent, driver };
}

export function acceptsWork(level: PressureLevel): boolean {
  return level === 'none' || level === 'low' || level === 'medium';
}
