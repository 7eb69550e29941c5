/** The system probe: what the machine and a process tree cost, sampled cheaply. */
export { SystemProbe, type SystemProbeOptions } from './systemProbe.js';
export { GpuProbe, parseNvidiaSmiCsv, type GpuProbeOptions } from './gpuProbe.js';
export { CpuTracker, type CpuObservation, type TagTicks } from './cpuTracker.js';
export { ProcReader, parseStatLine, descendantsOf, ProcParseError, type ProcStat } from './procReader.js';
export type { GpuMetric, ProbeFailure, ProbeResult, ProbeSample, ProbeSource, ProcessMetric, ProcessTag, TagCpu } from './types.js';
