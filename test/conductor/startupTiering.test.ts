/**
 * startupTiering.ts: while start-up is held back, V8 does not optimize even a hot function;
 * once released, it does (the conductor's hot paths under load depend on it). Run in a child
 * node with --allow-natives-syntax to ask V8 for a function's optimization status.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/conductorProcess.js';

const moduleUrl = pathToFileURL(path.join(REPO_ROOT, 'dist/conductor/startupTiering.js')).href;

// %GetOptimizationStatus bit 4 (16): the function runs TurboFan code.
const PROBE = `
const { holdBackStartupTiering, releaseStartupTiering, startupTieringHeld } = await import(${JSON.stringify(moduleUrl)});
function heat(f) { let s = 0; for (let i = 0; i < 200000; i++) s += f(i); return s; }
// The hot code runs as TurboFan code: the loop, or the step on its own (or inlined into it).
const turbofanned = (f) => ((%GetOptimizationStatus(f) | %GetOptimizationStatus(heat)) & 16) !== 0;
// Optimization runs on a background thread: give it up to ~50 rounds of heat and waiting.
async function heatUntilOptimized(f) { for (let k = 0; k < 50 && !turbofanned(f); k++) { heat(f); await new Promise((r) => setTimeout(r, 10)); } }
const step = (i) => (i * 31) ^ (i >>> 3);
holdBackStartupTiering();
const held = startupTieringHeld();
await heatUntilOptimized(step);
const whileHeld = turbofanned(step);
releaseStartupTiering();
await heatUntilOptimized(step);
console.log(JSON.stringify({ held, whileHeld, afterRelease: turbofanned(step), heldAfter: startupTieringHeld() }));
`;

function probe(nodeFlags: string[]): { held: boolean; whileHeld: boolean; afterRelease: boolean; heldAfter: boolean } {
  const out = execFileSync(process.execPath, ['--allow-natives-syntax', ...nodeFlags, '--input-type=module', '-e', PROBE], { encoding: 'utf8', timeout: 30_000 });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

describe('start-up tiering', () => {
  it('keeps a hot function unoptimized while held back, and optimizes it once released', () => {
    expect(probe([])).toEqual({ held: true, whileHeld: false, afterRelease: true, heldAfter: false });
  });

  it('holds nothing back when the process was started with its own V8 tuning', () => {
    const r = probe(['--max-semi-space-size=8']);
    expect(r.held).toBe(false);
    expect(r.whileHeld).toBe(true);
  });
});
