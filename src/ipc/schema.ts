/**
 * Validation against protocol/schemas/*.json: standard JSON Schema (draft-07), of which the
 * schemas use the keywords listed in methods.json's $comment; test/protocol/standardSchemas.test.ts
 * checks with ajv (strict) that every schema is standard and that ajv agrees on the vectors.
 * Errors name the field path (`sheets[0].argv`), defaults are filled in a copy, unknown fields
 * are rejected by name. Kept instead of ajv at runtime: its messages are what a caller reads,
 * it knows msgpack values (bigint, binary, timestamps), and it costs no runtime dependency
 * (scripts/bench-schema.mjs measures both per request).
 */
import fs from 'node:fs';
import { packageUrl } from '../shared/packageFiles.js';

export type SchemaType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean' | 'null';

export interface Schema {
  /** One type, or several (`["number", "null"]`: a number or nil). */
  type?: SchemaType | SchemaType[];
  properties?: Record<string, Schema>;
  required?: string[];
  /** false: unknown keys are rejected; true: kept as they are; a schema: each value must match it. */
  additionalProperties?: boolean | Schema;
  maxProperties?: number;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  /** In characters (Unicode code points), not bytes. */
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  default?: unknown;
  description?: string;
  /** A secret (draft-07 annotation): errors give a string's length, never the value. */
  writeOnly?: boolean;
  /**
   * The value must match one of these (the schemas keep them disjoint); the first that matches
   * is used. When every option has a description, a mismatch lists them ("must be A or B").
   */
  oneOf?: Schema[];
  /** `#/definitions/X` (same file) or `file.json#/pointer`; rewritten to the absolute form on load. */
  $ref?: string;
}

export type Validation = { ok: true; value: unknown } | { ok: false; field: string; message: string };

const SCHEMA_DIR = packageUrl('protocol/schemas/');
const files = new Map<string, unknown>();
const patterns = new Map<string, RegExp>();

/** Loads a schema file once, rewriting its local refs (`#/...`) to `file#/...`. */
function loadFile(name: string): unknown {
  let doc = files.get(name);
  if (doc === undefined) {
    if (!/^[a-z]+\.json$/.test(name)) throw new Error(`unknown schema file ${JSON.stringify(name)}`);
    doc = JSON.parse(fs.readFileSync(new URL(name, SCHEMA_DIR), 'utf8'));
    absolutizeRefs(doc, name);
    files.set(name, doc);
  }
  return doc;
}

function absolutizeRefs(node: unknown, file: string): void {
  if (Array.isArray(node)) {
    for (const n of node) absolutizeRefs(n, file);
  } else if (node !== null && typeof node === 'object') {
    const obj = node as Record<string, unknown>;
    if (typeof obj.$ref === 'string' && obj.$ref.startsWith('#')) obj.$ref = file + obj.$ref;
    for (const v of Object.values(obj)) absolutizeRefs(v, file);
  }
}

// The files never change once loaded, so a ref resolves once (re-walking it on every request
// made job.get's params check ~4x slower; scripts/bench-schema.mjs).
const resolved = new Map<string, Schema>();

/** `file.json#/a/b` → the schema at that JSON pointer (`~1` is `/`, `~0` is `~`). */
export function resolveRef(ref: string): Schema {
  let schema = resolved.get(ref);
  if (!schema) resolved.set(ref, (schema = walkRef(ref)));
  return schema;
}

function walkRef(ref: string): Schema {
  const hash = ref.indexOf('#');
  const file = hash < 0 ? ref : ref.slice(0, hash);
  let node: unknown = loadFile(file);
  const pointer = hash < 0 ? '' : ref.slice(hash + 1);
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) throw new Error(`schema ref ${ref} does not resolve`);
    node = (node as Record<string, unknown>)[key];
  }
  if (node === null || typeof node !== 'object') throw new Error(`schema ref ${ref} does not name a schema`);
  return node as Schema;
}

interface MethodEntry {
  params: Schema;
  result: Schema;
  errors: number[];
  examples: unknown[];
}

function methodTable(): Record<string, MethodEntry> {
  return (loadFile('methods.json') as { methods: Record<string, MethodEntry> }).methods;
}

/**
 * A validation failure, thrown inside the walk and caught by run(). Not an Error on purpose:
 * nobody reads its stack, and capturing one on every rejected request is a cost a client drives.
 */
class Invalid {
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {}
}

/** What a value is, in msgpack terms, for error messages. */
function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return 'binary';
  if (v instanceof Date) return 'a timestamp';
  if (typeof v === 'bigint') return `integer ${v}`;
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'object') return isPlainMap(v) ? 'a map' : v.constructor?.name === 'C1Type' ? 'the reserved byte 0xc1' : 'a non-map value';
  return `${typeof v} ${String(v)}`;
}

/** A decoded msgpack map; not an array, binary, timestamp, or msgpackr's 0xc1 marker. */
function isPlainMap(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** describeValue, but a secret string shows only its length. */
function shown(schema: Schema, v: unknown): string {
  return schema.writeOnly && typeof v === 'string' ? `${codePoints(v)} characters` : describeValue(v);
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function joinPath(at: string, key: string): string {
  return at ? `${at}.${key}` : key;
}

function check(schema: Schema, value: unknown, at: string): unknown {
  if (schema.$ref !== undefined) return check(resolveRef(schema.$ref), value, at);
  const name = at || 'params';
  if (schema.oneOf) return checkOneOf(schema, schema.oneOf, value, at);
  let type = schema.type;
  if (Array.isArray(type)) {
    // The schemas use only [T, "null"]: nil, or a T checked with T's messages.
    if (value === null && type.includes('null')) return null;
    const others = type.filter((t) => t !== 'null');
    if (others.length > 1) throw new Error(`schema at "${name}": several non-null types are not supported`);
    type = others[0] ?? 'null';
  }
  switch (type) {
    case 'object':
      return checkObject(schema, value, at, name);
    case 'array': {
      if (!Array.isArray(value)) throw new Invalid(at, `"${name}" must be an array, got ${describeValue(value)}`);
      if (schema.minItems !== undefined && value.length < schema.minItems) {
        const what = schema.items?.type === 'string' ? ' of strings' : '';
        throw new Invalid(
          at,
          schema.minItems === 1 ? `"${name}" must be a non-empty array${what}` : `"${name}" must have at least ${schema.minItems} items`,
        );
      }
      if (schema.maxItems !== undefined && value.length > schema.maxItems) {
        throw new Invalid(at, `"${name}" must have at most ${schema.maxItems} items, got ${value.length}`);
      }
      const items = schema.items;
      return items ? value.map((v, i) => check(items, v, `${at}[${i}]`)) : value.slice();
    }
    case 'string': {
      if (typeof value !== 'string') throw new Invalid(at, `"${name}" must be a string, got ${describeValue(value)}`);
      // UTF-16 length bounds the code point count from above, so count only when it matters.
      const { minLength, maxLength } = schema;
      if (minLength !== undefined && value.length < 2 * minLength && codePoints(value) < minLength) {
        throw new Invalid(at, minLength === 1 ? `"${name}" must not be empty` : `"${name}" must be at least ${minLength} characters`);
      }
      if (maxLength !== undefined && value.length > maxLength && codePoints(value) > maxLength) {
        throw new Invalid(at, `"${name}" must be at most ${maxLength} characters`);
      }
      if (schema.pattern !== undefined) {
        let re = patterns.get(schema.pattern);
        if (!re) patterns.set(schema.pattern, (re = new RegExp(schema.pattern, 'u')));
        if (!re.test(value)) throw new Invalid(at, `"${name}" must match ${schema.pattern}, got ${shown(schema, value)}`);
      }
      break;
    }
    case 'null':
      if (value !== null) throw new Invalid(at, `"${name}" must be nil, got ${describeValue(value)}`);
      break;
    case 'integer':
    case 'number': {
      const kind = type === 'integer' ? 'an integer' : 'a number';
      if (typeof value === 'bigint') {
        // Decoded 64-bit integers beyond 2^53 arrive as bigint: out of every range we use.
        throw new Invalid(at, `"${name}" is out of range, got ${value}`);
      }
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new Invalid(at, `"${name}" must be ${kind}, got ${describeValue(value)}`);
      if (type === 'integer' && !Number.isSafeInteger(value)) throw new Invalid(at, `"${name}" must be an integer, got ${value}`);
      if (schema.minimum !== undefined && value < schema.minimum) throw new Invalid(at, `"${name}" must be at least ${schema.minimum}, got ${value}`);
      if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) {
        throw new Invalid(at, `"${name}" must be greater than ${schema.exclusiveMinimum}, got ${value}`);
      }
      if (schema.maximum !== undefined && value > schema.maximum) throw new Invalid(at, `"${name}" must be at most ${schema.maximum}, got ${value}`);
      break;
    }
    case 'boolean':
      if (typeof value !== 'boolean') throw new Invalid(at, `"${name}" must be true or false, got ${describeValue(value)}`);
      break;
    default:
      // No type: any value (e.g. opaque `data`). Still no 0xc1 markers or undefined.
      if (value === undefined) throw new Invalid(at, `"${name}" is required`);
  }
  if (schema.enum && !schema.enum.includes(value)) {
    throw new Invalid(at, `"${name}" must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}, got ${shown(schema, value)}`);
  }
  return value;
}

function checkObject(schema: Schema, value: unknown, at: string, name: string): Record<string, unknown> {
  if (!isPlainMap(value)) throw new Invalid(at, `"${name}" must be a map, got ${describeValue(value)}`);
  const keys = Object.keys(value);
  if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) {
    throw new Invalid(at, `"${name}" must have at most ${schema.maxProperties} entries, got ${keys.length}`);
  }
  const properties = schema.properties ?? {};
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const child = joinPath(at, key);
    // Assigning `__proto__` would replace the copy's prototype instead of adding a key.
    if (key === '__proto__') throw new Invalid(child, `"${child}" is not an allowed key`);
    const v = value[key];
    if (Object.hasOwn(properties, key)) {
      if (v === undefined) continue;
      out[key] = check(properties[key]!, v, child);
    } else if (typeof schema.additionalProperties === 'object') {
      out[key] = check(schema.additionalProperties, v, child);
    } else if (schema.additionalProperties === true) {
      out[key] = v;
    } else {
      throw new Invalid(child, `unknown field "${child}"`);
    }
  }
  for (const key of schema.required ?? []) {
    // A nil that survived check() is one its schema allows (type [T, "null"] or no type).
    if (out[key] === undefined) {
      const child = joinPath(at, key);
      throw new Invalid(child, `"${child}" is required`);
    }
  }
  for (const [key, prop] of Object.entries(properties)) {
    // Only objects need a copy; structuredClone of a number cost microseconds per request.
    if (out[key] === undefined && prop.default !== undefined) out[key] = typeof prop.default === 'object' && prop.default !== null ? structuredClone(prop.default) : prop.default;
  }
  return out;
}

function checkOneOf(parent: Schema, options: Schema[], value: unknown, at: string): unknown {
  let first: Invalid | undefined;
  for (const option of options) {
    try {
      return check(option, value, at);
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      first ??= err;
    }
  }
  const name = at || 'params';
  if (options.every((o) => o.description)) {
    throw new Invalid(at, `"${name}" must be ${options.map((o) => o.description).join(' or ')}, got ${shown(parent, value)}`);
  }
  // An option's own message may quote the value: not for a secret.
  const detail = parent.writeOnly ? `got ${shown(parent, value)}` : `first: ${first?.detail ?? 'no shapes'}`;
  throw new Invalid(at, `"${name}" matches none of the ${options.length} allowed shapes (${detail})`);
}

function run(schema: Schema, value: unknown, prefix: string): Validation {
  try {
    return { ok: true, value: check(schema, value, '') };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, field: err.field, message: `${prefix}: ${err.detail}` };
    throw err;
  }
}

/**
 * Validate any value against a schema object or a ref such as `config.json#`, `methods.json#/methods/job.get/result`,
 * `events.json#/events/sheet.started/data`, `envelope.json#/envelope`, `snapshot.json#/snapshot`.
 */
export function validateValue(schema: Schema | string, value: unknown, prefix = 'invalid value'): Validation {
  return run(typeof schema === 'string' ? resolveRef(schema) : schema, value, prefix);
}

/**
 * Validate a method's params (nil or absent counts as an empty map). On success `value` is a
 * copy with defaults filled in. A method without a schema passes its params through.
 */
export function validateParams(method: string, params: unknown): Validation {
  const table = methodTable();
  const entry = Object.hasOwn(table, method) ? table[method] : undefined;
  const input = params ?? {};
  if (!entry) return { ok: true, value: input };
  return run(entry.params, input, 'invalid params');
}

/** Validate a method's result (for tests and clients that want to be strict). */
export function validateResult(method: string, result: unknown): Validation {
  const table = methodTable();
  if (!Object.hasOwn(table, method)) throw new Error(`no schema for method ${JSON.stringify(method)}`);
  return run(table[method]!.result, result, 'invalid result');
}

/** Every method that has a schema in methods.json. */
export function methodNames(): string[] {
  return Object.keys(methodTable());
}

/** The example params listed for a method in methods.json. */
export function methodExamples(method: string): unknown[] {
  const table = methodTable();
  return Object.hasOwn(table, method) ? table[method]!.examples : [];
}

/** Every durable event type the protocol defines (events.json), snapshots excluded. */
export function eventTypes(): string[] {
  const doc = loadFile('events.json') as { events: Record<string, unknown> };
  return Object.keys(doc.events).filter((t) => t !== 'monitor.snapshot');
}
