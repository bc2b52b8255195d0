// `cr-scheduler logs JOB [--follow]`: the job's log lines (cr.log) and the scheduler's events
// about it (placements, moves, retries), in order.
import { Option } from 'commander';
import { clusterCommand, parseJobArg, withCluster, type ClusterFlags } from './common.js';

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
          for (const line of reply.lines) {
            after = Math.max(after, line.id);
            if (flags.json) {
              process.stdout.write(`${JSON.stringify({ at: new Date(line.at).toISOString(), attempt: line.attempt, kind: line.kind, text: line.text })}\n`);
            } else {
              process.stdout.write(`${new Date(line.at).toISOString()} ${line.kind === 'log' ? `[${line.attempt}]` : '[scheduler]'} ${line.text}\n`);
            }
          }
          const ended = reply.state === 'succeeded' || reply.state === 'failed' || reply.state === 'cancelled';
          if (!flags.follow || (ended && reply.lines.length === 0)) break;
          if (reply.lines.length === 0) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        }
      });
    });
}
