#!/usr/bin/env node
// Bundles the CLI (and with it the conductor, which runs from the same entry) from the tsc
// build into dist/bundle/: our ~120 modules become a few files, third-party packages stay
// imported from node_modules. Why: node 20 keeps ~28 KB per loaded ES module (module records,
// and sources that comments with non-ASCII characters make two-byte strings), which an idle
// conductor kept for as long as it ran (BENCHMARKS.md, idle RSS). The client commands the
// conductor never runs stay in chunks of their own (dynamic imports in cli/main.ts).
//
//   node scripts/bundle.mjs        (run by `npm run build`, after tsc)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist/bundle');
fs.rmSync(outdir, { recursive: true, force: true });
await build({
  // Two folders below the package root, like every module it inlines (src/shared/packageFiles.ts).
  entryPoints: { mzt: path.join(root, 'dist/cli/bin.js') },
  outdir,
  bundle: true,
  splitting: true,
  chunkNames: '[name]-[hash]',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  // The tsc build's source maps are followed, so a stack trace maps back to src/*.ts.
  sourcemap: true,
  logLevel: 'warning',
});
fs.chmodSync(path.join(outdir, 'mzt.js'), 0o755);
