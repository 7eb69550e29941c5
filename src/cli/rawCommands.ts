/**
 * Raw access to the socket: `mzt call METHOD [PARAMS]` calls any method and prints its
 * result; `mzt subscribe` streams events as NDJSON, markers on stderr.
 */
import { Option, type Command } from 'commander';
import type { StreamItem } from '../ipc/client.js';
import { collect, parseInteger, UsageError } from './args.js';
import { connect, withClient } from './conductorClient.js';
import { printJson } from './output.js';

export function addRawCommands(program: Command): void {
  program
    .command('call')
    .description('call any socket method; prints the result as JSON')
    .argument('<method>')
    .argument('[params]', 'params as a JSON object', '{}')
    .action(async (method: string, rawParams: string) => {
      let params: unknown;
      try {
        params = JSON.parse(rawParams);
      } catch (err) {
        throw new UsageError(`params are not valid JSON: ${(err as Error).message}`);
      }
      const result = await withClient((c) => c.call(method, params as Record<string, unknown>, { timeoutMs: 120_000 }));
      printJson(result);
    });

  program
    .command('subscribe')
    .description('stream events as NDJSON (one JSON object per line); markers go to stderr')
    .addOption(new Option('--since <seq>', 'replay from after this seq first').argParser(parseInteger('--since')))
    .option('--job <id>', 'only events of this job')
    .option('--type <prefix>', 'only event types starting with this (repeatable)', collect, [])
    .option('--snapshots', 'include monitor snapshots')
    .action(async (opts: { since?: number; job?: string; type: string[]; snapshots?: boolean }) => {
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') process.exit(0);
      });
      const client = await connect({ reconnect: true });
      const stop = () => {
        void client.close().then(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      const sub = client.subscribe({
        ...(opts.since !== undefined ? { since: opts.since } : {}),
        ...(opts.job ? { job_id: opts.job } : {}),
        ...(opts.type.length ? { types: opts.type } : {}),
        ...(opts.snapshots ? { include_snapshots: true } : {}),
      });
      for await (const item of sub as AsyncIterable<StreamItem>) {
        if (item.kind === 'event') process.stdout.write(`${JSON.stringify(item.event)}\n`);
        else process.stderr.write(`${JSON.stringify({ marker: item.kind, ...item, kind: undefined })}\n`);
      }
    });
}
