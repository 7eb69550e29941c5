/**
 * Issue 13 §3 and job.clear against a real conductor, through the CLI as a user runs it:
 * job files (errors with file, line and field; several jobs in one file), `submit --wait`
 * like docker run (exit codes, stdout/stderr, Ctrl-C cancels), git provenance, and clear.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/ipc/messages.js';
import { useConductor, waitFor } from '../helpers/conductorProcess.js';
import { rpcError } from '../helpers/jobs.js';
import { runMzt, type CliOptions } from '../helpers/cli.js';

let work: string;
// Registered before the fixture: the scratch folder is made first and removed last.
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-jobfiles-'));
});
afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});
const fixture = useConductor({ config: { kill_grace_seconds: 1, profiler_interval_seconds: 0.2, profiler_budget_percent: 100 } });

/** The CLI run from the scratch folder `work` unless told otherwise. */
const mzt = (args: string[], opts: CliOptions = {}) => runMzt(fixture.home, args, { cwd: work, ...opts });

function write(name: string, text: string): string {
  const file = path.join(work, name);
  fs.writeFileSync(file, text);
  return file;
}

describe('job files', () => {
  it('an error names the file, the line and the field', async () => {
    const file = write(
      'bad.yaml',
      ['# build and test', 'name: build', 'labels:', '  team: infra', 'sheets:', '  - command: make', '  - argv: [make, test]', '    timeout_seconds: -5', ''].join('\n'),
    );
    const res = await mzt(['submit', '-f', file]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`${file}:8: sheets[1].timeout_seconds: must be greater than 0, got -5`);

    const unknown = await mzt(['submit', '-f', write('unknown.yaml', 'name: x\nsheets:\n  - command: "true"\n    tiemout_seconds: 5\n')]);
    expect(unknown.stderr).toMatch(/unknown\.yaml:4: sheets\[0\]\.tiemout_seconds: unknown field/);

    // YAML's unquoted true is a boolean, not the command "true".
    const bool = await mzt(['submit', '-f', write('bool.yaml', 'name: x\nsheets:\n  - command: true\n')]);
    expect(bool.stderr).toMatch(/bool\.yaml:3: sheets\[0\]\.command: must be a string, got boolean true \(quote it\)/);

    // A restart policy is supported; a bad one names its line and field.
    const restart = await mzt(['submit', '-f', write('restart.json', '{\n  "name": "r",\n  "restart": {"on": "sometimes"},\n  "sheets": [{"command": "true"}]\n}\n')]);
    expect(restart.stderr).toMatch(/restart\.json:3: restart\.on: must be one of/);
    const cap = await mzt(['submit', '-f', write('cap.yaml', 'sheets:\n  - command: "true"\nrestart:\n  backoff:\n    initial_seconds: 10\n    max_seconds: 5\n')]);
    expect(cap.stderr).toMatch(/cap\.yaml:6: restart\.backoff\.max_seconds: must be at least restart\.backoff\.initial_seconds \(10\)/);
    const many = await mzt(['submit', '-f', write('many.yaml', 'sheets:\n  - command: "true"\nrestart:\n  max_attempts: 101\n')]);
    expect(many.stderr).toMatch(/many\.yaml:4: restart\.max_attempts: must be at most 100, got 101/);

    const both = await mzt(['submit', '-f', write('both.yaml', 'sheets:\n  - name: one\n    command: "true"\n    argv: ["true"]\n')]);
    expect(both.stderr).toMatch(/both\.yaml:2: sheets\[0\]: give exactly one of "argv"/);

    const syntax = await mzt(['submit', '-f', write('syntax.yaml', 'name: x\nsheets: [\n')]);
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toMatch(/syntax\.yaml:\d+: /);

    const jobs = await fixture.client.call('job.list', { limit: 10 });
    expect(jobs.total).toBe(0); // nothing was submitted
  });

  it('several jobs in one file (a YAML stream), with labels, cwd and sh -c commands', async () => {
    fs.mkdirSync(path.join(work, 'sub'), { recursive: true });
    const file = write(
      'multi.yaml',
      [
        'name: first',
        'labels: {team: infra, tier: "1"}',
        'sheets:',
        '  - command: echo "from $PWD" && echo $GREETING',
        '    env: {GREETING: hello}',
        '---',
        'name: second',
        'job_id: multi-second',
        'cwd: sub',
        'sheets:',
        '  - argv: [pwd]',
        '',
      ].join('\n'),
    );
    const res = await mzt(['submit', '-f', file, '--json', '--label', 'run=ci']);
    expect(res.stderr).toBe('');
    const submitted = JSON.parse(res.stdout) as Array<{ job_id: string }>;
    expect(submitted).toHaveLength(2);
    expect(submitted[1]!.job_id).toBe('multi-second');
    for (const s of submitted) {
      await waitFor(async () => ['completed', 'failed'].includes((await fixture.client.call('job.get', { job_id: s.job_id })).status), 20_000, 'jobs to end');
    }
    const first = await fixture.client.call('job.get', { job_id: submitted[0]!.job_id });
    expect(first).toMatchObject({ name: 'first', status: 'completed', labels: { team: 'infra', tier: '1', run: 'ci' } });
    expect(first.sheets[0].argv.slice(0, 2)).toEqual(['sh', '-c']);
    const logs = await fixture.client.call('job.logs', { job_id: first.job_id });
    expect(logs.lines.join('\n')).toContain(`from ${work}`);
    expect(logs.lines.join('\n')).toContain('hello');
    const second = await fixture.client.call('job.logs', { job_id: 'multi-second' });
    expect(second.lines.join('\n')).toContain(path.join(work, 'sub'));
    const submittedEvent = (await fixture.client.call('events.read', { job_id: first.job_id, types: ['job.submitted'] })).events[0];
    expect(submittedEvent.data.labels).toEqual({ team: 'infra', tier: '1', run: 'ci' });
  });
});

describe('submit --wait, like docker run', () => {
  it("exits with the sheet's code; its stdout and stderr go to the matching stream", async () => {
    const ok = await mzt(['submit', '--wait', '--', 'sh', '-c', 'echo to-out; echo to-err >&2']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('to-out\n');
    expect(ok.stderr).toMatch(/to-err\n/);
    expect(ok.stderr).not.toMatch(/to-out/);

    const three = await mzt(['submit', '--wait', '--', 'sh', '-c', 'echo partial; exit 3']);
    expect(three.code).toBe(3);
    expect(three.stdout).toBe('partial\n');
    expect(three.stderr).toMatch(/failed \(exit code 3\)/);

    // Killed by SIGTERM (the sheet's own shell here): 128 + 15.
    const killed = await mzt(['submit', '--wait', '--', 'sh', '-c', 'kill -TERM $$']);
    expect(killed.code).toBe(143);

    // The failing sheet's code, not the first sheet's.
    const second = await mzt(['submit', '--wait', '--sheet', '["true"]', '--sheet', '["sh","-c","exit 7"]']);
    expect(second.code).toBe(7);

    // --quiet: the status lines of before, same exit code.
    const quiet = await mzt(['submit', '--wait', '--quiet', '--', 'sh', '-c', 'echo hidden; exit 5']);
    expect(quiet.code).toBe(5);
    expect(quiet.stdout).not.toMatch(/hidden/);
    expect(quiet.stdout).toMatch(/ failed \(exit code 5\)\n$/);
  });

  it('a job cancelled by someone else exits 143; Ctrl-C on the waiting mzt cancels the job', async () => {
    const external = mzt(['submit', '--wait', '--id', 'wait-cancelled', '--', 'sleep', '60']);
    await waitFor(async () => (await fixture.client.call('job.get', { job_id: 'wait-cancelled' }).catch(() => undefined))?.status === 'running', 15_000, 'job running');
    await fixture.client.call('job.cancel', { job_id: 'wait-cancelled' }, { timeoutMs: 30_000 });
    expect((await external).code).toBe(143);

    let child: ReturnType<typeof spawn> | undefined;
    const interrupted = mzt(['submit', '--wait', '--id', 'wait-ctrl-c', '--', 'sh', '-c', 'echo started; sleep 60'], { onSpawn: (p) => (child = p) });
    await waitFor(async () => (await fixture.client.call('job.logs', { job_id: 'wait-ctrl-c' }).catch(() => undefined))?.lines.some((l: string) => l.endsWith('started')), 15_000, 'output');
    child!.kill('SIGINT');
    const res = await interrupted;
    expect(res.stderr).toMatch(/cancelling job wait-ctrl-c/);
    expect(res.code).toBe(143);
    expect((await fixture.client.call('job.get', { job_id: 'wait-ctrl-c' })).status).toBe('cancelled');
  });
});

describe('provenance', () => {
  const git = (cwd: string, ...args: string[]) =>
    execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd, stdio: 'pipe' }).toString().trim();

  it('records sha, branch and dirty at submit and at the end; mzt job shows it', async () => {
    const repo = fs.mkdtempSync(path.join(work, 'repo-'));
    git(repo, 'init', '-q', '-b', 'trunk');
    fs.writeFileSync(path.join(repo, 'a.txt'), 'a\n');
    git(repo, 'add', 'a.txt');
    git(repo, 'commit', '-q', '-m', 'one');
    const sha = git(repo, 'rev-parse', 'HEAD');

    // Clean at submit; the sheet leaves an untracked file, so dirty at the end.
    const run = await mzt(['submit', '--wait', '--id', 'prov-clean', '--', 'sh', '-c', 'echo new > b.txt'], { cwd: repo });
    expect(run.code).toBe(0);
    const job = await fixture.client.call('job.get', { job_id: 'prov-clean' });
    expect(job.git).toEqual({ sha, branch: 'trunk', dirty: false });
    expect(job.git_at_end).toEqual({ sha, branch: 'trunk', dirty: true });
    const events = (await fixture.client.call('events.read', { job_id: 'prov-clean', types: ['job.submitted', 'job.completed'] })).events;
    expect(events.map((e: { data: { git?: unknown } }) => e.data.git)).toEqual([job.git, job.git_at_end]);
    const shown = await mzt(['job', 'prov-clean']);
    expect(shown.stdout).toContain(`git       ${sha.slice(0, 12)} trunk, clean (at submit)`);
    expect(shown.stdout).toContain(`git end   ${sha.slice(0, 12)} trunk, dirty`);

    // Dirty at submit already (a modified tracked file), from a subdirectory of the work tree.
    fs.writeFileSync(path.join(repo, 'a.txt'), 'changed\n');
    fs.mkdirSync(path.join(repo, 'deep'));
    await mzt(['submit', '--wait', '--id', 'prov-dirty', '--', 'true'], { cwd: path.join(repo, 'deep') });
    expect((await fixture.client.call('job.get', { job_id: 'prov-dirty' })).git).toEqual({ sha, branch: 'trunk', dirty: true });

    // Not a work tree: no field at all.
    const plain = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-nogit-'));
    try {
      await mzt(['submit', '--wait', '--id', 'prov-none', '--', 'true'], { cwd: plain });
      const none = await fixture.client.call('job.get', { job_id: 'prov-none' });
      expect(none.git).toBeUndefined();
      expect(none.git_at_end).toBeUndefined();
    } finally {
      fs.rmSync(plain, { recursive: true, force: true });
    }
  });
});

describe('clear', () => {
  it('removes the log files, the record and the ledger rows; refuses a running job', async () => {
    // exec: no descendant whose observed exit could be recorded after the job's end.
    const run = await mzt(['submit', '--wait', '--id', 'to-clear', '--', 'sh', '-c', 'echo bye; exec sleep 2']);
    expect(run.code).toBe(0);
    const logDir = path.join(fixture.home, 'jobs', 'to-clear');
    expect(fs.existsSync(path.join(logDir, 'output.log'))).toBe(true);
    // The profiler samples every 0.2 s (budget 100%: it never widens): the 2 s sheet is in the ledger.
    await waitFor(async () => (await fixture.client.call('monitor.resource_report', { job_id: 'to-clear' })).available, 10_000, 'ledger rows');

    await mzt(['submit', '--id', 'still-running', '--', 'sleep', '60']);
    await waitFor(async () => (await fixture.client.call('job.get', { job_id: 'still-running' })).status === 'running', 15_000, 'running');
    const refused = await mzt(['clear', 'to-clear', 'still-running']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/job "still-running" is running: only ended jobs can be cleared/);
    expect(fs.existsSync(logDir)).toBe(true); // all or nothing
    const refusedRpc = await rpcError(fixture.client.call('job.clear', { job_ids: ['still-running'] }));
    expect(refusedRpc.code).toBe(ErrorCode.INVALID_STATE);
    expect(refusedRpc.data).toMatchObject({ job_id: 'still-running', status: 'running' });

    const before = (await fixture.client.call('events.read', { job_id: 'to-clear', limit: 1000 })).events.map((e: { seq: number }) => e.seq);
    const cleared = await mzt(['clear', 'to-clear']);
    expect(cleared.code).toBe(0);
    expect(cleared.stdout).toBe('cleared 1 job(s): to-clear\n');
    expect(fs.existsSync(logDir)).toBe(false);
    expect((await rpcError(fixture.client.call('job.get', { job_id: 'to-clear' }))).code).toBe(ErrorCode.JOB_NOT_FOUND);
    // No job and no ledger rows left: the resource report knows nothing of it.
    expect((await rpcError(fixture.client.call('monitor.resource_report', { job_id: 'to-clear' }))).code).toBe(ErrorCode.JOB_NOT_FOUND);
    // Its events are still in the log, followed by job.cleared; the id stays taken.
    const after = (await fixture.client.call('events.read', { job_id: 'to-clear', limit: 1000 })).events;
    expect(after.map((e: { seq: number }) => e.seq).slice(0, before.length)).toEqual(before);
    const clearedEvents = after.filter((e: { type: string }) => e.type === 'job.cleared');
    expect(clearedEvents).toHaveLength(1);
    expect(clearedEvents[0]).toMatchObject({ data: { status: 'completed', by: 'client' } });
    expect(clearedEvents[0].seq).toBeGreaterThan(before.at(-1)!);
    expect((await rpcError(fixture.client.call('job.submit', { job_id: 'to-clear', sheets: [{ argv: ['true'] }] }))).code).toBe(ErrorCode.JOB_EXISTS);

    // By status: the failed jobs above go, the completed and running ones stay.
    const failedBefore = (await fixture.client.call('job.list', { status: ['failed'], limit: 1000 })).total;
    expect(failedBefore).toBeGreaterThan(0);
    const byStatus = await mzt(['clear', '--status', 'failed', '--json']);
    expect(JSON.parse(byStatus.stdout)).toMatchObject({ cleared: failedBefore, has_more: false });
    expect((await fixture.client.call('job.list', { status: ['failed'], limit: 10 })).total).toBe(0);
    expect((await fixture.client.call('job.get', { job_id: 'prov-clean' })).status).toBe('completed');
    // Nothing older than a day.
    expect((await mzt(['clear', '--older-than', '1d'])).stdout).toBe('nothing to clear\n');
    expect((await mzt(['clear'])).stderr).toMatch(/say what to clear/);
    await fixture.client.call('job.cancel', { job_id: 'still-running' }, { timeoutMs: 30_000 });
  });
});
