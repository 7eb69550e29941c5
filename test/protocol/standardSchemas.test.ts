/**
 * protocol/schemas/*.json are standard JSON Schema (draft-07): ajv in strict mode compiles
 * every schema in them, accepts the protocol's vectors and examples, and agrees with the
 * runtime validator (src/ipc/schema.ts) on what to accept and what to reject — so a client
 * in another language can validate with its own tools and get the conductor's verdicts.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { methodExamples, methodNames, validateParams, validateValue } from '../../src/ipc/schema.js';
import { ajvErrors, ajvValidator, readSchemaFile, schemaFiles, schemaPointers, standardAjv } from '../helpers/standardSchemas.js';

const DRAFT_07 = 'http://json-schema.org/draft-07/schema#';

describe('every schema file', () => {
  // ajv itself knows OpenAPI's `nullable`, so its strict mode would not catch one: checked here.
  it('declares draft-07 and uses no non-standard `nullable`', () => {
    expect(schemaFiles).toEqual(expect.arrayContaining(['config.json', 'envelope.json', 'events.json', 'jobfile.json', 'methods.json', 'snapshot.json']));
    for (const file of schemaFiles) {
      expect(readSchemaFile(file).$schema, file).toBe(DRAFT_07);
      expect(JSON.stringify(readSchemaFile(file)), file).not.toContain('"nullable"');
    }
  });

  it('compiles with ajv in strict mode, every schema in it', () => {
    const pointers = schemaPointers();
    // Every method's params and result, every event's data, the definitions, config.json's root.
    expect(pointers.length).toBeGreaterThan(2 * methodNames().length + 40);
    expect(pointers).toContain('config.json#');
    for (const p of pointers) expect(() => ajvValidator(p), p).not.toThrow();
  });

  it('would be refused by that strict compile if it used the old subset (the check above can fail)', () => {
    const ajv = standardAjv();
    expect(() => ajv.compile({ type: 'string', maxlength: 3 })).toThrow(/unknown keyword: "maxlength"/);
    expect(() => ajv.compile({ type: 'object', required: ['a'], properties: { b: {} } })).toThrow(/required property "a"/);
    expect(() => ajv.compile({ type: 'string', minimum: 1 })).toThrow(/strictTypes|applicable/);
    // [T, "null"] is the one union the schemas use; any other would need a decision.
    expect(() => ajv.compile({ type: ['number', 'string'] })).toThrow(/allowUnionTypes/);
  });
});

describe('ajv and the runtime validator', () => {
  const frames = JSON.parse(fs.readFileSync(new URL('../../protocol/vectors/frames.json', import.meta.url), 'utf8')) as {
    vectors: Array<{ name: string; kind?: string; value: unknown[] }>;
  };

  it('both accept every golden vector', () => {
    let checked = 0;
    for (const v of frames.vectors) {
      const msg = v.value;
      let ref: string | undefined;
      let value: unknown = msg[3];
      if (v.kind === 'request') ref = `methods.json#/methods/${msg[2] as string}/params`;
      else if (v.kind?.startsWith('response:')) ref = `methods.json#/methods/${v.kind.slice('response:'.length)}/result`;
      else if (v.kind === 'error') [ref, value] = ['envelope.json#/error', msg[2]];
      else if (v.kind === 'notification') [ref, value] = [`envelope.json#/notifications/${msg[1] as string}`, msg[2]];
      if (ref === undefined) continue;
      // nil params count as {} on the wire (PROTOCOL.md); a standard validator sees the map.
      value ??= {};
      expect(ajvErrors(ref, value), `${v.name} (ajv)`).toBeNull();
      expect(validateValue(ref, value), `${v.name} (runtime)`).toMatchObject({ ok: true });
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(10);
  });

  it('both accept every example params of every method', () => {
    for (const m of methodNames()) {
      for (const example of methodExamples(m)) expect(ajvErrors(`methods.json#/methods/${m}/params`, example), `${m} ${JSON.stringify(example)}`).toBeNull();
    }
  });

  // Each case: [method, params, accepted?]. The runtime verdict must match, and ajv's too.
  const cases: Array<[string, unknown, boolean]> = [
    ['job.submit', { sheets: [{ argv: ['echo', 'x'] }] }, true],
    ['job.submit', { sheets: [{ argv: [] }] }, false],
    ['job.submit', { sheets: [{ argv: ['a', 7] }] }, false],
    ['job.submit', { sheets: [{ argv: ['a'], shell: true }] }, false],
    ['job.submit', { sheets: [{ argv: ['a'], env: { X: 1 } }] }, false],
    ['job.submit', { sheets: [{ argv: ['a'], timeout_seconds: 0 }] }, false],
    ['events.read', { limit: 1000 }, true],
    ['events.read', { limit: 1001 }, false],
    ['events.read', { limit: 1.5 }, false],
    ['events.read', { limit: '10' }, false],
    ['job.get', { job_id: 'a..b' }, true],
    ['job.get', { job_id: '..' }, false],
    ['job.list', { status: ['done'] }, false],
    ['ping', { pad: 1 }, false],
    ['hello', { client: '🎻'.repeat(200) }, true],
    ['hello', { client: 'x'.repeat(201) }, false],
  ];

  it('agree on accepted and rejected params', () => {
    for (const [method, params, accepted] of cases) {
      const what = `${method} ${JSON.stringify(params).slice(0, 80)}`;
      expect(validateParams(method, params).ok, `${what} (runtime)`).toBe(accepted);
      expect(ajvErrors(`methods.json#/methods/${method}/params`, params) === null, `${what} (ajv)`).toBe(accepted);
    }
  });

  it('agree on [T, "null"] fields: nil or a T, nothing else', () => {
    const ref = 'methods.json#/methods/debug.emit/result';
    for (const [value, accepted] of [
      [{ first_seq: null, last_seq: null }, true],
      [{ first_seq: 1, last_seq: 3 }, true],
      [{ first_seq: 'x', last_seq: null }, false],
      [{ first_seq: null }, false],
    ] as const) {
      expect(validateValue(ref, value).ok, JSON.stringify(value)).toBe(accepted);
      expect(ajvErrors(ref, value) === null, JSON.stringify(value)).toBe(accepted);
    }
  });
});
