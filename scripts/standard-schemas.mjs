#!/usr/bin/env node
/**
 * One-off, re-runnable conversion of protocol/schemas/*.json from the project's old subset
 * to standard JSON Schema (draft-07):
 *   - `"type": T, "nullable": true`  →  `"type": [T, "null"]`
 *   - `"$schema": "http://json-schema.org/draft-07/schema#"` first in every file.
 * Kept as a script (not hand edits) so a branch that still adds `nullable` to a schema can be
 * merged by re-running it: `node scripts/standard-schemas.mjs [file.json ...]`. Idempotent.
 * Output keeps the files' format (JSON.stringify, 2 spaces, trailing newline).
 */
import fs from 'node:fs';

const DRAFT = 'http://json-schema.org/draft-07/schema#';
const dir = new URL('../protocol/schemas/', import.meta.url);
const names = process.argv.slice(2).length ? process.argv.slice(2) : fs.readdirSync(dir).filter((f) => f.endsWith('.json'));

function convert(node, where) {
  if (Array.isArray(node)) return node.map((n, i) => convert(n, `${where}/${i}`));
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'nullable') continue;
    out[key] = convert(value, `${where}/${key}`);
  }
  if (node.nullable === true) {
    // Every nullable in the old files sits beside a plain `type`; anything else needs a person.
    if (typeof node.type !== 'string' || node.$ref || node.enum || node.oneOf) {
      throw new Error(`${where}: nullable without a plain "type" — convert by hand`);
    }
    out.type = [node.type, 'null'];
  }
  return out;
}

for (const name of names) {
  const url = new URL(name, dir);
  const doc = convert(JSON.parse(fs.readFileSync(url, 'utf8')), name + '#');
  const { $schema: _old, ...rest } = doc;
  fs.writeFileSync(url, JSON.stringify({ $schema: DRAFT, ...rest }, null, 2) + '\n');
  console.log(`converted ${name}`);
}
