/**
 * Params validation against protocol/schemas/methods.json, a small JSON-Schema subset.
 * Errors name the field path (`sheets[0].argv`), defaults are filled in a copy, unknown
 * fields are rejected by name. No dependency: the subset is small and the messages matter.
 */
import fs from 'node:fs';

export interface Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  maxProperties?: number;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  default?: unknown;
  description?: string;
  /** null is accepted as well ("unknown" values). */
  nullable?: boolean;
}

export type Validation = { ok: true; value: unknown } | { ok: false; field: string; message: string };

// The same relative path works from src/ipc and dist/ipc.
const file = new URL('../../protocol/schemas/methods.json', import.meta.url);
const methodSchemas = (JSON.parse(fs.readFileSync(file, 'utf8')) as { methods: Record<string, { params: Schema }> }).methods;
const patterns = new Map<string, RegExp>();

class Invalid extends Error {
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super(detail);
  }
}

function describeValue(v: unknown): string {
  if (v === null) return 'nil';
  if (Array.isArray(v)) return 'an array';
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return 'binary';
  return typeof v === 'object' ? 'a map' : `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;
}

function check(schema: Schema, value: unknown, at: string): unknown {
  const name = at || 'params';
  if (value === null && schema.nullable) return null;
  switch (schema.type) {
    case 'object': {
      if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
        throw new Invalid(at, `"${name}" must be a map, got ${describeValue(value)}`);
      }
      const input = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      const keys = Object.keys(input);
      if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) {
        throw new Invalid(at, `"${name}" has more than ${schema.maxProperties} entries`);
      }
      for (const key of keys) {
        const child = at ? `${at}.${key}` : key;
        const prop = schema.properties?.[key];
        if (prop && Object.hasOwn(schema.properties!, key)) {
          if (input[key] === undefined) continue;
          out[key] = check(prop, input[key], child);
        } else if (typeof schema.additionalProperties === 'object') {
          out[key] = check(schema.additionalProperties, input[key], child);
        } else {
          throw new Invalid(child, `unknown field "${child}"`);
        }
      }
      for (const key of schema.required ?? []) {
        if (out[key] === undefined || (out[key] === null && !schema.properties?.[key]?.nullable)) {
          const child = at ? `${at}.${key}` : key;
          throw new Invalid(child, `"${child}" is required`);
        }
      }
      for (const [key, prop] of Object.entries(schema.properties ?? {})) {
        if (out[key] === undefined && prop.default !== undefined) out[key] = prop.default;
      }
      return out;
    }
    case 'array': {
      if (!Array.isArray(value)) throw new Invalid(at, `"${name}" must be an array, got ${describeValue(value)}`);
      if (schema.minItems !== undefined && value.length < schema.minItems) {
        throw new Invalid(at, `"${name}" must have at least ${schema.minItems} item(s)`);
      }
      if (schema.maxItems !== undefined && value.length > schema.maxItems) {
        throw new Invalid(at, `"${name}" must have at most ${schema.maxItems} items`);
      }
      return value.map((v, i) => (schema.items ? check(schema.items, v, `${at}[${i}]`) : v));
    }
    case 'string': {
      if (typeof value !== 'string') throw new Invalid(at, `"${name}" must be a string, got ${describeValue(value)}`);
      if (schema.minLength !== undefined && value.length < schema.minLength) {
        throw new Invalid(at, schema.minLength === 1 ? `"${name}" must not be empty` : `"${name}" must be at least ${schema.minLength} characters`);
      }
      if (schema.maxLength !== undefined && value.length > schema.maxLength) {
        throw new Invalid(at, `"${name}" must be at most ${schema.maxLength} characters`);
      }
      if (schema.pattern !== undefined) {
        let re = patterns.get(schema.pattern);
        if (!re) patterns.set(schema.pattern, (re = new RegExp(schema.pattern)));
        if (!re.test(value)) throw new Invalid(at, `"${name}" must match ${schema.pattern}`);
      }
      break;
    }
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new Invalid(at, `"${name}" must be ${schema.type === 'integer' ? 'an integer' : 'a number'}, got ${describeValue(value)}`);
      }
      if (schema.type === 'integer' && !Number.isInteger(value)) throw new Invalid(at, `"${name}" must be an integer, got ${value}`);
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
  }
  if (schema.enum && !schema.enum.includes(value)) {
    throw new Invalid(at, `"${name}" must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`);
  }
  return value;
}

export function validateValue(schema: Schema, value: unknown): Validation {
  try {
    return { ok: true, value: check(schema, value, '') };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, field: err.field, message: `invalid params: ${err.detail}` };
    throw err;
  }
}

/** Validate a method's params (nil counts as an empty map); returns a copy with defaults. */
export function validateParams(method: string, params: unknown): Validation {
  const schema = methodSchemas[method]?.params;
  if (!schema) return { ok: true, value: params ?? {} };
  return validateValue(schema, params ?? {});
}

export function methodNames(): string[] {
  return Object.keys(methodSchemas);
}
