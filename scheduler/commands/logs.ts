// `cr-scheduler logs JOB [--follow]`: the job's log lines (cr.log) and the scheduler's events
// about it (placements, moves, retries), in order. The scheduler answers a page of lines at a
// time; this asks for pages until it has them all (and, with --follow, until the job ends).
// What the job wrote is printed escaped: a line cannot forge another or drive the terminal.
import { Option } from 'commander';
import { printable, printableJson } from '../escape.js';
import { clusterCommand, isoTime, parseJobArg, withCluster, type ClusterFlags } from './common.js';

const POLL_MS = 300;

export function logsCommand() {
  return clusterCommand('logs', "a job's log lines and the scheduler's events about it")
    .argument('<job>', 'a job id', parseJobArg)
    .addOption(new Option('-f, --follow', 'keep printing new lines until the job ends'))
    .action(async (id: number, flags: ClusterFlags & { follow?: boolean }) => {
      await withCluster(flags, async (cluster) => {
        let after = 0;
        for (;;) {
          const reply = await cluster.call('GetLogs', { job: id, after });
          const out: string[] = [];
          for (const line of reply.lines) {
            after = Math.max(after, line.id);
            if (flags.json) {
              out.push(printableJson(JSON.stringify({ at: isoTime(line.at), attempt: line.attempt, kind: line.kind, text: line.text })));
            } else {
              out.push(`${isoTime(line.at)} ${line.kind === 'log' ? `[${line.attempt}]` : '[scheduler]'} ${printable(line.text)}`);
            }
          }
          if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
          // A page that was not empty may be followed by more: ask again at once.
          if (reply.lines.length > 0) continue;
          const ended = reply.state === 'succeeded' || reply.state === 'failed' || reply.state === 'cancelled';
          if (!flags.follow || ended) break;
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        }
      });
    });
}
