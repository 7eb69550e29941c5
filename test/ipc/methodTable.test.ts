/**
 * The one method table (src/ipc/methodTable.ts), which types both DaemonClient and the
 * conductor's handlers, against the wire contract protocol/schemas/methods.json: the same
 * methods, the same param names, required exactly where the schema requires, 'defaulted'
 * exactly where the schema has a default (the handler's type counts on it being filled in).
 */
import { describe, expect, it } from 'vitest';
import { createDispatch, type MethodDeps } from '../../src/conductor/methods.js';
import type { RequestContext } from '../../src/ipc/connection.js';
import { METHODS, type ParamKind } from '../../src/ipc/methodTable.js';
import { methodNames, resolveRef, type Schema } from '../../src/ipc/schema.js';

type Table = Record<string, { params: Readonly<Record<string, ParamKind>> }>;

/** Every disagreement between a table and methods.json, one line each. */
function drift(table: Table, schemaOf: (method: string) => Schema): string[] {
  const problems: string[] = [];
  const inTable = Object.keys(table);
  const inSchema = methodNames();
  for (const m of inSchema) if (!inTable.includes(m)) problems.push(`${m}: in methods.json, not in the table`);
  for (const m of inTable) if (!inSchema.includes(m)) problems.push(`${m}: in the table, not in methods.json`);
  for (const m of inTable.filter((x) => inSchema.includes(x))) {
    const schema = schemaOf(m);
    const props = schema.properties ?? {};
    const required = schema.required ?? [];
    const kinds = table[m]!.params;
    for (const name of new Set([...Object.keys(props), ...Object.keys(kinds)])) {
      const expected: ParamKind | undefined = !Object.hasOwn(props, name)
        ? undefined
        : required.includes(name)
          ? 'required'
          : props[name]!.default !== undefined
            ? 'defaulted'
            : 'optional';
      const actual = kinds[name];
      if (actual !== expected) problems.push(`${m}.${name}: table says ${actual ?? 'nothing'}, methods.json says ${expected ?? 'nothing'}`);
    }
  }
  return problems;
}

const fromMethodsJson = (m: string): Schema => resolveRef(`methods.json#/methods/${m}/params`);

describe('the method table', () => {
  it('agrees with methods.json on methods, params, required and defaulted ones', () => {
    expect(Object.keys(METHODS).length).toBeGreaterThanOrEqual(25);
    expect(drift(METHODS, fromMethodsJson)).toEqual([]);
  });

  it('would report each kind of drift (the check above can fail)', () => {
    const changed: Table = { ...METHODS, 'job.get': { params: { job_id: 'optional' } }, 'job.nope': { params: {} } };
    delete changed.ping;
    changed['events.read'] = { params: { ...METHODS['events.read'].params, limit: 'optional', extra: 'optional' } };
    expect(drift(changed, fromMethodsJson).sort()).toEqual(
      [
        'events.read.extra: table says optional, methods.json says nothing',
        'events.read.limit: table says optional, methods.json says defaulted',
        'job.get.job_id: table says optional, methods.json says required',
        'job.nope: in the table, not in methods.json',
        'ping: in methods.json, not in the table',
      ].sort(),
    );
  });
});

describe('the conductor\'s handlers', () => {
  // Handlers touch their deps only when called; listing and unknown names need none.
  const serve = (debugMethods: boolean) => createDispatch({ debugMethods } as unknown as MethodDeps);

  it('are exactly the table\'s methods (debug.emit only with debug methods on)', () => {
    expect(serve(true).methods.sort()).toEqual(Object.keys(METHODS).sort());
    expect(serve(false).methods.sort()).toEqual(Object.keys(METHODS).filter((m) => m !== 'debug.emit').sort());
  });

  it('answer names inherited from Object (constructor, toString) as unknown methods', () => {
    const { dispatch } = serve(false);
    for (const name of ['constructor', 'toString', '__proto__', 'debug.emit']) {
      expect(() => dispatch(name, {}, {} as RequestContext), name).toThrow(`unknown method "${name}"`);
    }
  });
});
