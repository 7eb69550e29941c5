/**
 * `mzt conductor restart`: stop the running conductor gracefully (over the socket) and start
 * a new one in the background — how an upgrade is rolled out. With `live_restore: true` the
 * jobs' sheets run on meanwhile and the new conductor re-adopts them (actors/liveRestore/);
 * without it, stopping interrupts them, as `mzt conductor stop` does. A conductor started
 * detached comes back with the same --log-format, --log-max-bytes and --log-keep.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { ConductorNotRunning } from '../ipc/clientErrors.js';
import { probeHello } from '../ipc/helloProbe.js';
import { parseNumber } from './args.js';
import { detachedLogOf, startDetached } from './detach.js';
import { cliPaths, withClient } from './conductorClient.js';
import { waitForExit } from './pids.js';

/** `entry`: the CLI's entry file, which the new, detached conductor runs. */
export function addConductorRestart(conductor: Command, entry: string): void {
  conductor
    .command('restart')
    .description('stop the conductor gracefully and start a new one in the background (with live_restore, running sheets carry on)')
    .addOption(new Option('--timeout <seconds>', 'how long to wait for the old one to exit, and the new one to be ready').default(30).argParser(parseNumber('--timeout')))
    .action(async (opts: { timeout: number }) => {
      const p = cliPaths();
      const probe = await probeHello(p.socketPath, 2000);
      if (!probe.alive) throw new ConductorNotRunning(p.socketPath);
      const oldPid = probe.hello.pid as number;
      const log = detachedLogOf(p, probe.hello);
      const started = Date.now();
      await withClient((c) => c.call('daemon.shutdown', { graceful: true }));
      if (!(await waitForExit(oldPid, opts.timeout * 1000, 50, started))) throw new Error(`the conductor (pid ${oldPid}) did not stop within ${opts.timeout}s; nothing was restarted (see mzt conductor stop --force)`);
      const pid = await startDetached(p, entry, opts.timeout, log);
      process.stdout.write(`conductor restarted (pid ${oldPid} → ${pid}) in ${((Date.now() - started) / 1000).toFixed(1)}s, log ${p.logFile}\n`);
    });
}
