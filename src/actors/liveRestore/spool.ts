/**
 * Copies a waiter's spool (waiter.ts) into the job log, exactly once across conductor restarts.
 *
 * The cursor (segment, offset, the partial last line of each stream) is written to
 * `cursor.json` (tmp + rename) after the lines it covers are in the log, together with where
 * the log's newest segment ended then. A conductor killed between the two leaves lines in the
 * log past the cursor; the next one cuts the log back to the recorded end (JobLog `resume`)
 * and reads the spool again from the cursor — nothing lost, nothing twice. (If the log rotated
 * a capped segment meanwhile, the cut is skipped: a capped log has dropped its middle anyway.)
 *
 * Bounded: one read is at most READ_BYTES; a partial line kept between reads is at most
 * MAX_LINE_BYTES (longer ones are written out in pieces, as JobLog.follow does); consumed
 * segments are deleted, so the spool holds at most what the waiter allows (MAX_SEGMENTS).
 */
import fs from 'node:fs';
import path from 'node:path';
import { MAX_LINE_BYTES, type JobLog, type LogPosition } from '../jobLog.js';
import { spoolFile } from './waiter.js';
import { writeJsonAtomic } from '../../shared/privateFiles.js';

const READ_BYTES = 256 * 1024;
const CURSOR_FILE = 'cursor.json';
const RECORD_HEADER = 5;
/** The waiter reads at most 64 KiB at a time: no record is longer. */
const MAX_RECORD = 64 * 1024;

export interface SpoolCursor {
  seg: number;
  off: number;
  /** Partial last lines, base64, by stream. */
  pending: { o?: string; e?: string };
  log?: LogPosition;
}

export function readCursor(dir: string): SpoolCursor {
  try {
    const c = JSON.parse(fs.readFileSync(path.join(dir, CURSOR_FILE), 'utf8')) as SpoolCursor;
    if (Number.isInteger(c.seg) && c.seg >= 0 && Number.isInteger(c.off) && c.off >= 0) return { ...c, pending: c.pending ?? {} };
  } catch {
    /* none yet: from the start */
  }
  return { seg: 0, off: 0, pending: {} };
}

export class SpoolTailer {
  private cursor: SpoolCursor;
  private readonly pending: { o?: Buffer; e?: Buffer } = {};
  private busy: Promise<boolean> | undefined;
  private saveError: string | undefined;

  constructor(
    private readonly dir: string,
    private readonly log: JobLog,
    private readonly sheetNum: number,
  ) {
    this.cursor = readCursor(dir);
    for (const s of ['o', 'e'] as const) if (this.cursor.pending[s]) this.pending[s] = Buffer.from(this.cursor.pending[s]!, 'base64');
    // Segments before the cursor were consumed; a conductor may have died before deleting them.
    for (let seg = this.cursor.seg - 1; seg >= 0 && fs.existsSync(spoolFile(dir, seg)); seg--) fs.rmSync(spoolFile(dir, seg), { force: true });
  }

  /** The checkpoint the log may be cut back to (see the header). */
  get logPosition(): LogPosition | undefined {
    return this.cursor.log;
  }

  /** Copy what the spool has now; true if anything was read. One pass at a time. */
  pump(): Promise<boolean> {
    this.busy ??= this.pass().finally(() => (this.busy = undefined));
    return this.busy;
  }

  /** Read to the end of the spool, then write out partial last lines (the sheet has ended). */
  async drain(): Promise<void> {
    if (this.busy) await this.busy;
    while (await this.pump()) {
      /* until nothing is left */
    }
    for (const s of ['o', 'e'] as const) {
      const rest = this.pending[s];
      if (!rest) continue;
      this.pending[s] = undefined;
      this.cursor.log = await this.log.appendLines(this.sheetNum, s === 'o' ? 'out' : 'err', Buffer.concat([rest, Buffer.from('\n')]));
    }
    this.save();
  }

  private async pass(): Promise<boolean> {
    let progressed = false;
    for (;;) {
      const file = spoolFile(this.dir, this.cursor.seg);
      let data: Buffer;
      try {
        const fd = fs.openSync(file, 'r');
        try {
          const size = fs.fstatSync(fd).size;
          data = Buffer.alloc(Math.max(0, Math.min(READ_BYTES, size - this.cursor.off)));
          if (data.length > 0) fs.readSync(fd, data, 0, data.length, this.cursor.off);
        } finally {
          fs.closeSync(fd);
        }
      } catch {
        return progressed; // not started yet
      }
      const used = await this.copyRecords(data);
      if (used > 0) {
        this.cursor.off += used;
        this.save();
        progressed = true;
        continue;
      }
      // Nothing complete here: move on if the waiter has started the next segment (it does so
      // only after its last write to this one, so this one's size is final).
      if (!fs.existsSync(spoolFile(this.dir, this.cursor.seg + 1))) return progressed;
      const size = fs.statSync(file).size;
      if (size > this.cursor.off + data.length) continue; // written to since our read
      if (size > this.cursor.off) {
        // An incomplete record the waiter can no longer finish (it moved on): never wait on it.
        this.log.write(this.sheetNum, 'sys', `spool of sheet ${this.sheetNum}: an incomplete record of ${size - this.cursor.off} byte(s) skipped`);
      }
      this.cursor = { ...this.cursor, seg: this.cursor.seg + 1, off: 0 };
      this.save();
      fs.rmSync(file, { force: true });
      progressed = true;
    }
  }

  /** Writes the complete records at the start of `data` to the log; returns the bytes they took. */
  private async copyRecords(data: Buffer): Promise<number> {
    let at = 0;
    const writes: Array<Promise<LogPosition>> = [];
    while (at + RECORD_HEADER <= data.length) {
      const len = data.readUInt32BE(at + 1);
      if ((data[at] !== 0x6f && data[at] !== 0x65) || len > MAX_RECORD) {
        // Not a record the waiter writes: skip the rest of what was read rather than stall.
        this.log.write(this.sheetNum, 'sys', `spool of sheet ${this.sheetNum} unreadable at byte ${this.cursor.off + at}: ${data.length - at} byte(s) of output skipped`);
        at = data.length;
        break;
      }
      if (at + RECORD_HEADER + len > data.length) break;
      const s = data[at] === 0x65 ? 'e' : 'o';
      let body = data.subarray(at + RECORD_HEADER, at + RECORD_HEADER + len);
      at += RECORD_HEADER + len;
      if (this.pending[s]) body = Buffer.concat([this.pending[s]!, body]);
      this.pending[s] = undefined;
      const last = body.lastIndexOf(0x0a);
      if (last < 0 && body.length <= MAX_LINE_BYTES) {
        this.pending[s] = Buffer.from(body);
        continue;
      }
      const cut = last >= 0 ? last + 1 : body.length;
      let lines = body.subarray(0, cut);
      if (last < 0) lines = Buffer.concat([lines, Buffer.from('\n')]); // a long line, in pieces
      writes.push(this.log.appendLines(this.sheetNum, s === 'o' ? 'out' : 'err', lines));
      if (cut < body.length) this.pending[s] = Buffer.from(body.subarray(cut));
    }
    if (writes.length > 0) this.cursor.log = (await Promise.all(writes)).at(-1);
    return at;
  }

  private save(): void {
    const pending: SpoolCursor['pending'] = {};
    for (const s of ['o', 'e'] as const) if (this.pending[s]) pending[s] = this.pending[s]!.toString('base64');
    this.cursor.pending = pending;
    try {
      writeJsonAtomic(path.join(this.dir, CURSOR_FILE), this.cursor);
      this.saveError = undefined;
    } catch (err) {
      // A full disk: copying goes on; a crash before the next good write would copy again
      // what came after the last cursor on disk (said once in the log).
      const message = (err as Error).message;
      if (message !== this.saveError) this.log.write(this.sheetNum, 'sys', `spool cursor of sheet ${this.sheetNum} not saved: ${message}`);
      this.saveError = message;
    }
  }
}
