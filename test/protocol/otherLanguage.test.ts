/**
 * Another language's standard tooling validates with protocol/schemas as PROTOCOL.md §13 says:
 * the Python block there is run as written (python3 with jsonschema ≥ 4.18), then asked for
 * the verdicts the conductor gives. Skipped, saying so, where that Python is not installed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const doc = fs.readFileSync(new URL('protocol/PROTOCOL.md', root), 'utf8');
const hasPython = spawnSync('python3', ['-c', 'import jsonschema, referencing'], { stdio: 'ignore' }).status === 0;

describe('validating with Python jsonschema (PROTOCOL.md §13)', () => {
  it.skipIf(!hasPython)('the documented recipe gives the conductor\'s verdicts', () => {
    const at = doc.indexOf('Validating with standard tools');
    expect(at).toBeGreaterThan(0);
    const block = /```python\n([\s\S]*?)```/.exec(doc.slice(at))![1]!;
    const checks = `
import json as _json
cases = [
    ("methods.json#/methods/job.submit/params", {"sheets": [{"argv": ["echo", "hi"]}]}),
    ("methods.json#/methods/job.submit/params", {"sheets": [{"argv": []}]}),
    ("methods.json#/methods/debug.emit/result", {"first_seq": None, "last_seq": None}),
    ("methods.json#/methods/debug.emit/result", {"first_seq": "x", "last_seq": None}),
    ("config.json", {"max_concurrent_jobs": 0}),
    ("config.json", {"dashboard_token": "short"}),
    ("config.json", {"fleet": {"nats_url": "nats://127.0.0.1:4222"}}),
]
print(_json.dumps([errors(ref, value) for ref, value in cases]))
`;
    const out = execFileSync('python3', ['-c', block + checks], { cwd: root, encoding: 'utf8' });
    const verdicts = JSON.parse(out.trim().split('\n').at(-1)!) as string[][];
    expect(verdicts.map((e) => e.length === 0)).toEqual([true, false, true, false, false, false, true]);
    expect(verdicts[1]).toEqual(['sheets/0/argv: [] should be non-empty']);
    expect(verdicts[4]).toEqual(['max_concurrent_jobs: 0 is less than the minimum of 1']);
  });
});
