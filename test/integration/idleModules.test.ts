/**
 * What an idle conductor leaves unloaded (issue 16: idle RSS under 64 MB). The NATS client
 * (~8 MB of heap) is loaded only with `fleet` configured, the YAML parser (~4 MB) only for
 * `submit -f`: the conductor runs from the same CLI entry (the bundle) as every command; RxJS (~7 MB whole)
 * only in the few modules the bus uses. A resolve hook
 * preloaded through NODE_OPTIONS records every module the real conductor process resolves.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, useConductor } from '../helpers/conductorProcess.js';

const hook = pathToFileURL(path.join(REPO_ROOT, 'test/helpers/moduleLog.mjs')).href;
const moduleLog = (home: string) => path.join(home, 'modules.log');
const fixture = useConductor({
  prefix: 'mzt-idle-modules-',
  config: { dashboard_enabled: true, dashboard_port: 0 },
  prepare: (home) => ({ env: { NODE_OPTIONS: `--import=${hook}`, MZT_TEST_MODULE_LOG: moduleLog(home) } }),
});

describe('an idle conductor', () => {
  it('has not loaded the NATS client, the YAML parser nor the whole of RxJS, and has loaded the store and the socket server', async () => {
    // A job through the socket: the conductor's whole path for running work has loaded.
    await fixture.client.call('job.submit', { sheets: [{ argv: ['true'] }] });
    await fixture.client.call('daemon.status', {});
    const loaded = fs.readFileSync(moduleLog(fixture.home), 'utf8').split('\n');
    // The hook itself works: the parts every conductor needs were recorded.
    expect(loaded.some((url) => url.includes('/node_modules/better-sqlite3/'))).toBe(true);
    // The conductor runs from the bundled CLI (scripts/bundle.mjs): none of the build's own modules.
    expect(loaded.some((url) => url.endsWith('/dist/bundle/mzt.js'))).toBe(true);
    const buildModules = pathToFileURL(path.join(REPO_ROOT, 'dist')).href + '/';
    expect(loaded.filter((url) => url.startsWith(buildModules) && !url.startsWith(`${buildModules}bundle/`))).toEqual([]);
    expect(loaded.filter((url) => url.includes('/node_modules/@nats-io/'))).toEqual([]);
    expect(loaded.filter((url) => url.includes('/node_modules/yaml/'))).toEqual([]);
    // Without the client commands (cli/main.ts imports them only for other commands; each
    // is a chunk of the bundle named after its module).
    expect(loaded.filter((url) => /\/dist\/bundle\/(top|submit|fleet|jobCommands)-\w+\.js$/.test(url))).toEqual([]);
    // RxJS from its defining modules (shared/rx.ts), not the root entry that loads all of it.
    expect(loaded.some((url) => url.includes('/node_modules/rxjs/dist/cjs/internal/Subject.js'))).toBe(true);
    expect(loaded.filter((url) => url.includes('/node_modules/rxjs/dist/cjs/index.js'))).toEqual([]);
  });
});
