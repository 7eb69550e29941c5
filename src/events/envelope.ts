/**
 * The one place an envelope is assembled, so stored, replayed and ephemeral events all have
 * the same keys in the same order: {seq, ts, type, job_id?, sheet_num?, data}. Absent
 * optional fields are left out (never written as nil).
 */
import type { EventEnvelope } from './types.js';

export function buildEnvelope(
  seq: number | undefined,
  ts: number,
  type: string,
  job_id: string | undefined,
  sheet_num: number | undefined,
  data: Record<string, unknown>,
): EventEnvelope {
  const envelope = (seq === undefined ? { ts, type } : { seq, ts, type }) as EventEnvelope;
  if (job_id !== undefined) envelope.job_id = job_id;
  if (sheet_num !== undefined) envelope.sheet_num = sheet_num;
  envelope.data = data;
  return envelope;
}
