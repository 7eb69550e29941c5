/**
 * The `mzt` CLI as a person or a script uses it, against a real conductor.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI, makeHome, removeHome, useConductor } from '../helpers/conductorProcess.js';
import { runMzt } from '../helpers/cli.js';

const fixture = useConductor({ client: false });

/** The CLI with stdin a pipe (closed at once unless `input` is given), as in a script. */
const mzt = (args: string[], opts: { home?: string; input?: string } = {}) => runMzt(opts.home ?? fixture.home, args, { input: opts.input ?? '' });

describe('mzt CLI', () => {
  it('submit --wait follows the job and exits with its outcome', async () => {
    const ok = await mzt(['submit', '--name', 'cli-ok', '--wait', '--', 'sh', '-c', 'echo hello-from-cli']);
    expect(ok.code).toBe(0);
    const bad = await mzt(['submit', '--wait', '--', 'sh', '-c', 'exit 4']);
    expect(bad.code).toBe(4); // the sheet's own exit code, like docker run
  });

  it('submit --json, job, jobs, logs', async () => {
    const sub = await mzt(['submit', '--json', '--id', 'cli-json', '--', 'sh', '-c', 'echo line-a; echo line-b']);
    expect(sub.code).toBe(0);
    expect(JSON.parse(sub.stdout)).toMatchObject({ job_id: 'cli-json' });
    await mzt(['submit', '--wait', '--', 'true']); // let the queue move
    const job = await mzt(['job', 'cli-json', '--json']);
    expect(job.code).toBe(0);
    expect(JSON.parse(job.stdout).job_id).toBe('cli-json');
    const jobs = await mzt(['jobs']);
    expect(jobs.stdout).toMatch(/cli-json/);
    const logs = await mzt(['logs', 'cli-json', '-n', '10']);
    expect(logs.stdout).toMatch(/line-a/);
    expect(logs.stdout).toMatch(/line-b/);
  });

  it('call prints results as JSON and errors with a non-zero exit', async () => {
    const ok = await mzt(['call', 'daemon.status']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).pid).toBe(fixture.conductor.pid);
    const unknown = await mzt(['call', 'no.such.method', '{}']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/unknown method/);
    const badJson = await mzt(['call', 'ping', '{not json']);
    expect(badJson.code).not.toBe(0);
    expect(badJson.stderr).toMatch(/JSON/i);
  });

  it('subscribe prints one JSON object per line', async () => {
    const out = await new Promise<string>((resolve) => {
      const p = spawn(process.execPath, [CLI, 'subscribe', '--since', '0', '--type', 'job.submitted'], {
        env: { ...process.env, MZT_HOME: fixture.home },
      });
      let buf = '';
      p.stdout.on('data', (d) => {
        buf += d;
        if (buf.split('\n').length > 2) p.kill('SIGINT');
      });
      p.on('close', () => resolve(buf));
    });
    const lines = out.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(JSON.parse(line).type).toBe('job.submitted');
  });

  it('says clearly when the conductor is not running', async () => {
    const empty = makeHome();
    try {
      const r = await mzt(['jobs'], { home: empty });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/not running/);
      expect(r.stderr).toMatch(/mzt conductor start/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      removeHome(empty);
    }
  });

  it('conductor status reports the live conductor', async () => {
    const r = await mzt(['conductor', 'status', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).pid).toBe(fixture.conductor.pid);
  });
});
