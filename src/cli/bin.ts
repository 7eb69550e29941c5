#!/usr/bin/env node
/**
 * The `mzt` executable (bundled into dist/bundle/mzt.js by scripts/bundle.mjs). Its first
 * import is the only static one: in the bundle, every chunk an entry imports statically is
 * evaluated before the entry's own code, so the rest of the CLI is loaded by a dynamic import,
 * after earlySignals.ts has run — a foreground `mzt conductor start` catches SIGHUP and holds back
 * V8's start-up tiering before anything else is evaluated.
 */
import './earlySignals.js';
import { fileURLToPath } from 'node:url';

const { runCli } = await import('./main.js');
// A detached conductor runs this file again.
await runCli(fileURLToPath(import.meta.url));
