import { describe, expect, it } from 'vitest';
import { DEFAULT_PRESSURE_LIMITS, acceptsWork, evaluatePressure, type PressureLevel } from '../../src/monitor/pressure.js';

const limits = { ...DEFAULT_PRESSURE_LIMITS, max_memory_mb: 1000, max_processes: 100 };
const mem = (mb: number, previous?: PressureLevel) => evaluatePressure({ memory_mb: mb, processes: 0 }, limits, previous);

describe('pressure', () => {
  it('maps usage to bands, the worse of memory and processes driving', () => {
    expect(mem(100).level).toBe('none');
    expect(mem(500).level).toBe('low');
    expect(mem(700).level).toBe('medium');
    expect(mem(800).level).toBe('high');
    expect(mem(950).level).toBe('critical');
    const byProcesses = evaluatePressure({ memory_mb: 10, processes: 96 }, limits);
    expect(byProcesses).toMatchObject({ level: 'critical', driver: 'processes', process_percent: 96 });
  });

  it('does not clamp overage', () => {
    expect(mem(1500).memory_percent).toBe(150);
  });

  it('rises at once but falls only past the hysteresis margin', () => {
    expect(mem(810, 'none').level).toBe('high');
    expect(mem(790, 'high').level).toBe('high'); // 79% is within 5 points of 80
    expect(mem(760, 'high').level).toBe('high'); // still within the margin (≥ 75%)
    expect(mem(740, 'high').level).toBe('medium'); // below 75%: one band down
    expect(mem(100, 'critical').level).toBe('none'); // far below: straight down
  });

  it('stops accepting work at the warn threshold', () => {
    expect(acceptsWork(mem(799).level)).toBe(true);
    expect(acceptsWork(mem(800).level)).toBe(false);
  });
});
