/**
 * Job files (`mzt submit -f FILE`): YAML or JSON (read as YAML, of which JSON is a subset),
 * one job per document, several jobs as a YAML stream (`---` between documents). Checked
 * against protocol/schemas/jobfile.json with the protocol's own validator; every error names
 * the file, the line and the field: `job.yaml:7: sheets[1].timeout_seconds: must be ...`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isMap, isNode, isScalar, LineCounter, parseAllDocuments, type Document } from 'yaml';
import { validateValue } from '../ipc/schema.js';
import { LABEL_KEY, type JobSpec, type SheetSpec } from '../events/jobRecord.js';

export const MAX_JOBS_PER_FILE = 100;
/** Job files are small; a bigger one is most likely the wrong file. */
const MAX_FILE_BYTES = 1024 * 1024;

export class JobFileError extends Error {}

/** A sheet as a file writes it: `argv`, or a `command` run by `sh -c`. */
type FileSheet = Omit<SheetSpec, 'argv'> & { argv?: string[]; command?: string };

/** A job as a file writes it: a JobSpec whose sheets may use `command`. */
type FileJob = Omit<JobSpec, 'sheets'> & { sheets: FileSheet[] };

/** `sheets[1].timeout_seconds` → ['sheets', 1, 'timeout_seconds']. */
function fieldPath(field: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const m of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return out;
}

/** The line of a field: of its value, or of the nearest enclosing node that exists. */
function lineOf(doc: Document, lines: LineCounter, field: string): number {
  const parts = fieldPath(field);
  for (let n = parts.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(parts.slice(0, n), true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return 1;
}

/** The line of a map key (for a field that must not be there). */
function keyLine(doc: Document, lines: LineCounter, parent: Array<string | number>, key: string): number {
  const map = parent.length === 0 ? doc.contents : doc.getIn(parent, true);
  if (isMap(map)) {
    for (const pair of map.items) {
      if (isScalar(pair.key) && pair.key.value === key && pair.key.range) return lines.linePos(pair.key.range[0]).line;
    }
  }
  return lineOf(doc, lines, parent.join('.'));
}

/** Read and check a job file; the specs are ready for job.submit. Throws JobFileError. */
export function readJobFile(file: string): JobSpec[] {
  const shown = file;
  let text: string;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new JobFileError(`${file}: not a regular file`);
    if (st.size > MAX_FILE_BYTES) throw new JobFileError(`${file}: ${st.size} bytes; a job file may have at most ${MAX_FILE_BYTES}`);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof JobFileError) throw err;
    throw new JobFileError(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (!Array.isArray(docs)) throw new JobFileError(`${shown}: no job in the file`);
  const baseDir = path.dirname(path.resolve(file));
  const specs: JobSpec[] = [];
  for (const doc of docs) {
    const problem = doc.errors[0];
    if (problem) {
      const line = lines.linePos(problem.pos[0]).line;
      throw new JobFileError(`${shown}:${line}: ${problem.message.split('\n')[0]}`);
    }
    if (doc.contents === null) continue; // an empty document, e.g. after a trailing ---
    if (specs.length === MAX_JOBS_PER_FILE) throw new JobFileError(`${shown}: more than ${MAX_JOBS_PER_FILE} jobs in one file`);
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    const prefix = docs.length > 1 ? `job ${specs.length + 1}: ` : '';
    const fail = (line: number, field: string, message: string): never => {
      throw new JobFileError(`${shown}:${line}: ${prefix}${field ? `${field}: ` : ''}${message}`);
    };
    const checked = validateValue('jobfile.json#/definitions/job', value);
    if (!checked.ok) {
      // The validator's detail starts with the quoted field name; the prefix says it already.
      const unknown = /^invalid value: unknown field/.test(checked.message);
      let detail = unknown ? 'unknown field' : checked.message.replace(/^invalid value: /, '').replace(`"${checked.field}" `, '');
      // YAML reads `true`, `5` or `null` unquoted as non-strings.
      if (/must be a string, got (boolean|number|nil)/.test(detail)) detail += ' (quote it)';
      const parts = fieldPath(checked.field);
      const line = unknown ? keyLine(doc, lines, parts.slice(0, -1), String(parts.at(-1))) : lineOf(doc, lines, checked.field);
      fail(line, checked.field || '', detail);
    }
    const job = checked.ok ? (checked.value as FileJob) : undefined;
    if (!job) continue;
    for (const key of Object.keys(job.labels ?? {})) {
      if (!LABEL_KEY.test(key)) fail(keyLine(doc, lines, ['labels'], key), `labels.${key}`, `label keys must match ${LABEL_KEY.source}`);
    }
    const cwd = path.resolve(baseDir, job.cwd ?? '.');
    const sheets: SheetSpec[] = job.sheets.map((s, i) => {
      const at = `sheets[${i}]`;
      if ((s.argv === undefined) === (s.command === undefined)) {
        fail(lineOf(doc, lines, at), at, 'give exactly one of "argv" (run as is) and "command" (run with sh -c)');
      }
      const sheet: SheetSpec = { argv: s.argv ?? ['sh', '-c', s.command!] };
      if (s.name !== undefined) sheet.name = s.name;
      if (s.cwd !== undefined) sheet.cwd = path.resolve(cwd, s.cwd);
      if (s.env !== undefined) sheet.env = s.env;
      if (s.timeout_seconds !== undefined) sheet.timeout_seconds = s.timeout_seconds;
      return sheet;
    });
    const spec: JobSpec = { sheets, cwd, name: job.name ?? (path.basename(file).replace(/\.[^.]*$/, '') || 'job') };
    if (job.job_id !== undefined) spec.job_id = job.job_id;
    if (job.env !== undefined) spec.env = job.env;
    if (job.labels !== undefined) spec.labels = job.labels;
    if (job.restart !== undefined) {
      const b = job.restart.backoff;
      // What the schema cannot say; the conductor checks it too (restartPolicy.ts).
      if (b?.initial_seconds !== undefined && b.max_seconds !== undefined && b.max_seconds < b.initial_seconds) {
        fail(lineOf(doc, lines, 'restart.backoff.max_seconds'), 'restart.backoff.max_seconds', `must be at least restart.backoff.initial_seconds (${b.initial_seconds})`);
      }
      spec.restart = job.restart;
    }
    if (job.limits !== undefined) spec.limits = job.limits;
    specs.push(spec);
  }
  if (specs.length === 0) throw new JobFileError(`${shown}: no job in the file`);
  return specs;
}
