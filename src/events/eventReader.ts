/**
 * Reads of the stored log: rows as stored, or pages already framed for the socket (built inside
 * SQLite so a replay hands no row to JavaScript). Statements are cached by filter shape.
 */
import type Database from 'better-sqlite3';
import type { EventFilter } from './types.js';

/** A stored event as it sits on disk: the envelope's bytes, untouched. */
export interface RawEventRow {
  seq: number;
  type: string;
  job_id: string | null;
  bytes: Buffer;
}

/** Stored events already framed for the socket: what a replay sends, built inside SQLite. */
export interface FramedPage {
  /** Events in `frames` (0 when nothing is left after `afterSeq`). */
  count: number;
  /** Seq of the last event in `frames`. */
  lastSeq: number;
  /** `count` frames back to back: u32 BE length, `prefix`, the stored bytes as they are. */
  frames: Buffer;
}

/** Filter shapes with more type prefixes than this are prepared per call instead of cached. */
const MAX_CACHED_TYPE_PREFIXES = 8;

function checkCursor(afterSeq: number, limit: number): void {
  if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new RangeError(`afterSeq must be an integer >= 0, got ${afterSeq}`);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`limit must be an integer >= 1, got ${limit}`);
}

/**
 * A type prefix as SQL. ASCII prefixes become a range on the binary order
 * (`type >= 'job.' AND type < 'job/'`); others compare the leading characters.
 */
function typePrefixClause(prefix: string): { kind: 'r' | 's'; sql: string; params: string[] } {
  const last = prefix.charCodeAt(prefix.length - 1);
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(prefix) && last < 0x7f) {
    const end = prefix.slice(0, -1) + String.fromCharCode(last + 1);
    return { kind: 'r', sql: '(type >= ? AND type < ?)', params: [prefix, end] };
  }
  return { kind: 's', sql: '(substr(type, 1, length(?)) = ?)', params: [prefix, prefix] };
}

export class EventReader {
  private readonly selectFirstSeq: Database.Statement;
  private readonly selectPayloadBytes: Database.Statement;
  private readonly rowStatements = new Map<string, Database.Statement>();
  private readonly framedStatements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {
    this.selectFirstSeq = db.prepare('SELECT MIN(seq) FROM events').pluck();
    this.selectPayloadBytes = db
      .prepare('SELECT coalesce(sum(length(payload)), 0), count(*) FROM (SELECT payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?)')
      .raw(true);
  }

  /** Lowest seq still stored, or null when the table is empty. */
  firstSeq(): number | null {
    return this.selectFirstSeq.get() as number | null;
  }

  raw(afterSeq: number, limit: number, filter: EventFilter): RawEventRow[] {
    checkCursor(afterSeq, limit);
    const { statement, params } = this.statement(filter, 'rows');
    const rows = statement.all(afterSeq, ...params, limit) as Array<[number, string, string | null, Buffer]>;
    return rows.map(([seq, type, job_id, bytes]) => ({ seq, type, job_id, bytes }));
  }

  framed(afterSeq: number, limit: number, filter: EventFilter, prefix: Buffer): FramedPage {
    checkCursor(afterSeq, limit);
    const { statement, params } = this.statement(filter, 'framed');
    const [count, lastSeq, frames] = statement.get(prefix.length, prefix, afterSeq, ...params, limit) as [number, number | null, Buffer | null];
    return { count, lastSeq: lastSeq ?? afterSeq, frames: frames ?? Buffer.alloc(0) };
  }

  /** Payload bytes of the events after `afterSeq`, counting at most `maxEvents` of them. */
  payloadBytesAfter(afterSeq: number, maxEvents: number): { bytes: number; events: number } {
    const [bytes, events] = this.selectPayloadBytes.get(afterSeq, maxEvents) as [number, number];
    return { bytes, events };
  }

  private statement(filter: EventFilter, shape: 'rows' | 'framed'): { statement: Database.Statement; params: unknown[] } {
    const clauses: string[] = [];
    const params: unknown[] = [];
    let key = '';
    if (filter.job_id !== undefined) {
      if (typeof filter.job_id !== 'string') throw new TypeError('filter.job_id must be a string');
      clauses.push('job_id = ?');
      params.push(filter.job_id);
      key += 'j';
    }
    const types = filter.types ?? [];
    if (!Array.isArray(types) || types.some((t) => typeof t !== 'string')) throw new TypeError('filter.types must be an array of strings');
    // An empty prefix matches every type, so the whole type filter falls away.
    if (types.length > 0 && !types.includes('')) {
      const prefixes = types.map(typePrefixClause);
      clauses.push(`(${prefixes.map((p) => p.sql).join(' OR ')})`);
      for (const p of prefixes) params.push(...p.params);
      key += `:${prefixes.map((p) => p.kind).join('')}`;
    }
    const where = `seq > ?${clauses.map((c) => ` AND ${c}`).join('')}`;
    // framed: the frame header is the 4-byte big-endian length of prefix + payload (unhex of
    // 8 hex digits); || and group_concat keep the bytes as they are, CAST gives them back as a blob.
    const sql =
      shape === 'rows'
        ? `SELECT seq, type, job_id, payload FROM events WHERE ${where} ORDER BY seq LIMIT ?`
        : `SELECT count(*), max(seq), CAST(group_concat(frame, '' ORDER BY seq) AS BLOB) FROM (` +
          `SELECT seq, unhex(printf('%08X', length(payload) + ?)) || ? || payload AS frame ` +
          `FROM events WHERE ${where} ORDER BY seq LIMIT ?)`;
    const cache = shape === 'rows' ? this.rowStatements : this.framedStatements;
    const cacheable = types.length <= MAX_CACHED_TYPE_PREFIXES;
    let statement = cacheable ? cache.get(key) : undefined;
    if (!statement) {
      statement = this.db.prepare(sql).raw(true);
      if (cacheable) cache.set(key, statement);
    }
    return { statement, params };
  }
}
