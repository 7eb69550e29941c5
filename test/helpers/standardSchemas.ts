/**
 * protocol/schemas/*.json read by a standard validator (ajv, draft-07, strict) — what another
 * language's tooling would do — so tests can check that the files are standard JSON Schema
 * and that ajv and the runtime validator (src/ipc/schema.ts) agree. Dev-only: ajv is a
 * devDependency and nothing in src imports this.
 */
import fs from 'node:fs';
import Ajv, { type ValidateFunction } from 'ajv';

const DIR = new URL('../../protocol/schemas/', import.meta.url);

export const schemaFiles = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

export function readSchemaFile(file: string): Record<string, any> {
  return JSON.parse(fs.readFileSync(new URL(file, DIR), 'utf8'));
}

/**
 * Every place in the files where a schema sits, as `file#/pointer`. The files group schemas
 * under layout keys (`methods`, `events`, `notifications`…) that are not keywords, so the
 * schemas are the fragments below, not the roots (config.json is a schema at its root).
 */
export function schemaPointers(): string[] {
  const out: string[] = [];
  const esc = (k: string): string => k.replace(/~/g, '~0').replace(/\//g, '~1');
  for (const file of schemaFiles) {
    const doc = readSchemaFile(file);
    if (doc.type !== undefined) out.push(`${file}#`);
    for (const k of Object.keys(doc.definitions ?? {})) out.push(`${file}#/definitions/${esc(k)}`);
    for (const [m, entry] of Object.entries<any>(doc.methods ?? {})) {
      out.push(`${file}#/methods/${esc(m)}/params`);
      if (entry.result !== undefined) out.push(`${file}#/methods/${esc(m)}/result`);
    }
    for (const t of Object.keys(doc.events ?? {})) out.push(`${file}#/events/${esc(t)}/data`);
    for (const k of Object.keys(doc.notifications ?? {})) out.push(`${file}#/notifications/${esc(k)}`);
    for (const k of Object.keys(doc.messages ?? {})) out.push(`${file}#/messages/${esc(k)}/schema`);
    for (const k of ['envelope', 'error', 'snapshot']) if (doc[k] !== undefined) out.push(`${file}#/${k}`);
  }
  return out;
}

/**
 * The files' layout keys (groups of schemas, not keywords). Declared to ajv as no-op keywords
 * so a file's root compiles in strict mode; the schemas under them are compiled one by one
 * (schemaPointers), each strictly. Another tool ignores them as unknown annotations.
 */
export const LAYOUT_KEYS = ['methods', 'events', 'notifications', 'messages', 'envelope', 'error', 'snapshot'];

/**
 * A fresh ajv holding every file under its file name, so `snapshot.json#/snapshot` refs resolve
 * as they would relative to the files on disk. strict: unknown keywords (e.g. the old
 * `maxlength` typo), `required` names with no property, type/keyword mismatches are errors at
 * compile time. `["number", "null"]` needs no allowUnionTypes: strictTypes accepts T-or-null.
 */
export function standardAjv(): Ajv {
  const ajv = new Ajv({ strict: true, allErrors: true });
  ajv.addVocabulary(LAYOUT_KEYS);
  for (const file of schemaFiles) ajv.addSchema(readSchemaFile(file), file);
  return ajv;
}

let shared: Ajv | undefined;
const compiled = new Map<string, ValidateFunction>();

/** Compile (once) the schema at `file#/pointer`; throws what ajv's strict mode reports. */
export function ajvValidator(ref: string): ValidateFunction {
  let fn = compiled.get(ref);
  if (!fn) {
    shared ??= standardAjv();
    fn = shared.compile({ $ref: ref });
    compiled.set(ref, fn);
  }
  return fn;
}

/** ajv's verdict: null when valid, else its errors as `path message` lines. */
export function ajvErrors(ref: string, value: unknown): string | null {
  const fn = ajvValidator(ref);
  if (fn(value)) return null;
  return (fn.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ');
}
