/**
 * The bundled `mzt` (dist/bundle/mzt.js, scripts/bundle.mjs) evaluates nothing before
 * earlySignals.ts but that module's own dependencies: in a bundle, the chunks an entry imports
 * statically run before the entry's code, so anything else imported statically would run before
 * a foreground conductor catches SIGHUP and holds back V8's start-up tiering (bin.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/conductorProcess.js';

const BUNDLE = path.join(REPO_ROOT, 'dist/bundle');

/** The modules (by esbuild's `// dist/...` markers) a file and its static imports evaluate. */
function staticModules(file: string, seen = new Set<string>()): { modules: string[]; packages: string[] } {
  if (seen.has(file)) return { modules: [], packages: [] };
  seen.add(file);
  const text = fs.readFileSync(path.join(BUNDLE, file), 'utf8');
  const modules = [...text.matchAll(/^\/\/ (dist\/\S+\.js)$/gm)].map((m) => m[1]!);
  const packages: string[] = [];
  // Static imports only: `import ... from "x"` / `import "x"` at the start of a line.
  for (const m of text.matchAll(/^import (?:[^;]*? from )?"([^"]+)";?$/gms)) {
    const spec = m[1]!;
    if (spec.startsWith('./')) {
      const inner = staticModules(spec.slice(2), seen);
      modules.push(...inner.modules);
      packages.push(...inner.packages);
    } else packages.push(spec);
  }
  return { modules, packages };
}

describe('the bundled mzt executable', () => {
  it('evaluates only earlySignals and what it needs before loading the rest of the CLI', () => {
    const { modules, packages } = staticModules('mzt.js');
    expect(modules.sort()).toEqual(['dist/cli/bin.js', 'dist/cli/earlySignals.js', 'dist/conductor/earlySighup.js', 'dist/conductor/startupTiering.js']);
    expect(packages.every((p) => p.startsWith('node:'))).toBe(true);
    // And the rest of the CLI is there, behind the dynamic import.
    expect(fs.readFileSync(path.join(BUNDLE, 'mzt.js'), 'utf8')).toMatch(/await import\("\.\/main-\w+\.js"\)/);
  });
});
