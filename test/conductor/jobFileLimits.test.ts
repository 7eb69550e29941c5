/**
 * `limits` in a job file: accepted into the JobSpec as written; a bad one is refused with the
 * file, the line and the field.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readJobFile } from '../../src/cli/jobFile.js';
import { validateParams } from '../../src/ipc/schema.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-jobfile-limits-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, lines: string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

describe('job file limits', () => {
  it('passes limits through to the spec', () => {
    const file = write('ok.yaml', ['name: build', 'limits: {memory_mb: 4096.5, processes: 200}', 'sheets:', '  - command: make']);
    expect(readJobFile(file)[0]!.limits).toEqual({ memory_mb: 4096.5, processes: 200 });
    const none = write('none.yaml', ['sheets:', '  - command: make']);
    expect(readJobFile(none)[0]!.limits).toBeUndefined();
  });

  it('names the file, line and field of a bad limit', () => {
    const cases: Array<[string[], RegExp]> = [
      [['sheets:', '  - command: make', 'limits:', '  memory_mb: -1'], /bad1\.yaml:4: limits\.memory_mb: must be greater than 0, got -1$/],
      [['sheets:', '  - command: make', 'limits:', '  processes: 2.5'], /bad2\.yaml:4: limits\.processes: must be an integer, got 2\.5$/],
      [['sheets:', '  - command: make', 'limits:', '  processes: 3', '  cpus: 2'], /bad3\.yaml:5: limits\.cpus: unknown field$/],
      [['sheets:', '  - command: make', 'limits: 100'], /bad4\.yaml:3: limits: must be a map, got number 100$/],
    ];
    cases.forEach(([lines, message], i) => {
      const file = write(`bad${i + 1}.yaml`, lines);
      expect(() => readJobFile(file)).toThrow(message);
    });
  });
});

describe('job.submit limits bounds', () => {
  const submit = (limits: unknown) => validateParams('job.submit', { sheets: [{ argv: ['true'] }], limits });
  it('accepts the edges and refuses past them, naming the field', () => {
    expect(submit({ memory_mb: 0.001, processes: 1 }).ok).toBe(true);
    expect(submit({ memory_mb: 10_000_000, processes: 1_000_000 }).ok).toBe(true);
    expect(submit({})).toMatchObject({ ok: true });
    expect(submit({ memory_mb: 10_000_001 })).toMatchObject({ ok: false, field: 'limits.memory_mb', message: expect.stringMatching(/must be at most 10000000/) });
    expect(submit({ processes: 1_000_001 })).toMatchObject({ ok: false, field: 'limits.processes', message: expect.stringMatching(/must be at most 1000000/) });
    expect(submit({ memory_mb: null })).toMatchObject({ ok: false, field: 'limits.memory_mb' });
  });
});
