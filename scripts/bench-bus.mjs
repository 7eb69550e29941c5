// The in-process bus alone: ns per publish and young-generation GCs, with the conductor's
// observers (one handler, as the socket server attaches, plus the monitor sinks' filter pipeline).
//   node scripts/bench-bus.mjs [--events 10000000] [--dist /path/to/dist]   (npm run build first)
// --dist points at another build (e.g. the main checkout's) to compare buses in the same hour.
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { filter } from 'rxjs';
import { opt, root } from './benchKit.mjs';

const N = opt('events', 10_000_000);
const distArg = process.argv.indexOf('--dist');
const dist = distArg >= 0 ? path.resolve(process.argv[distArg + 1]) : path.join(root, 'dist');
const { EventBus, encodeEphemeral } = await import(path.join(dist, 'events/bus.js'));
const events = Array.from({ length: 1000 }, (_, i) => encodeEphemeral('debug.emit', { i }, { ts: 1 }));

let gcs = 0;
new PerformanceObserver((list) => (gcs += list.getEntries().length)).observe({ entryTypes: ['gc'] });

async function measure(withPipeline) {
  const bus = new EventBus();
  let delivered = 0;
  bus.subscribe(() => (delivered += 1));
  const isSnapshot = filter((e) => e.event.type === 'monitor.snapshot');
  // Builds before subscribeVia had only the events$ Observable for pipelines.
  if (withPipeline) bus.subscribeVia ? bus.subscribeVia(isSnapshot, () => {}) : bus.events$.pipe(isSnapshot).subscribe(() => {});
  for (let i = 0; i < N / 5; i++) bus.publish(events[i % 1000]); // warm-up (optimized code)
  await new Promise((r) => setTimeout(r, 20));
  gcs = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) bus.publish(events[i % 1000]);
  const ns = Number(process.hrtime.bigint() - t0) / N;
  await new Promise((r) => setTimeout(r, 50)); // GC entries arrive asynchronously
  if (delivered !== N + N / 5) throw new Error(`delivered ${delivered}`);
  return { ns, gcsPerMillion: (gcs * 1e6) / N };
}

console.log(`bus of ${dist}; ${N.toLocaleString('en')} events`);
for (const withPipeline of [false, true]) {
  const r = await measure(withPipeline);
  console.log(`| 1 handler${withPipeline ? ' + filter pipeline' : ''} | ${r.ns.toFixed(1)} ns/event | ${r.gcsPerMillion.toFixed(1)} GCs per 1M events |`);
}
