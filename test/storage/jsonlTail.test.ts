/** JsonlTail: complete lines only, survives rotation and truncation, missing file is no error. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { JsonlTail } from '../../src/storage/jsonlTail.js';
import { JsonlWriter } from '../../src/storage/jsonl.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'jsonl-tail-'));

describe('JsonlTail', () => {
  it('starts at the end with the last complete line, then yields only new complete lines', () => {
    const file = path.join(tmp(), 'm.jsonl');
    fs.writeFileSync(file, '{"a":1}\n{"a":2}\n{"a":3');
    const tail = new JsonlTail(file);
    expect(tail.lastLine()).toBe('{"a":2}');
    expect(tail.readNew()).toEqual([]);
    fs.appendFileSync(file, '}\n{"a":4}\n{"a"');
    expect(tail.readNew()).toEqual(['{"a":3}', '{"a":4}']);
    fs.appendFileSync(file, ':5}\n');
    expect(tail.readNew()).toEqual(['{"a":5}']);
  });

  it('follows the writer across rotations (new inode) and truncation', async () => {
    const file = path.join(tmp(), 'm.jsonl');
    const writer = new JsonlWriter(file, { maxBytes: 200, keepRotated: 2 });
    const tail = new JsonlTail(file);
    expect(tail.lastLine()).toBeUndefined(); // missing file
    expect(tail.readNew()).toEqual([]);
    const seen: number[] = [];
    for (let i = 0; i < 40; i++) {
      writer.append({ i, pad: 'x'.repeat(20) });
      await writer.flush();
      for (const line of tail.readNew()) seen.push(JSON.parse(line).i);
    }
    expect(fs.existsSync(`${file}.1`)).toBe(true);
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i));
    fs.writeFileSync(file, '{"i":100}\n'); // truncated and rewritten
    expect(tail.readNew()).toEqual(['{"i":100}']);
  });
});
