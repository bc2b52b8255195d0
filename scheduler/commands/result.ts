// `cr-scheduler result JOB`: the job's result as JSON on stdout (exit 0), or why there is none (exit 1).
import { toJson } from '../output.js';
import { clusterCommand, errorMessage, parseJobArg, storedJson, withCluster, type ClusterFlags } from './common.js';

export function resultCommand() {
  return clusterCommand('result', "a finished job's result, as JSON")
    .argument('<job>', 'a job id', parseJobArg)
    .action(async (id: number, flags: ClusterFlags) => {
      await withCluster(flags, async (cluster) => {
        const job = await cluster.call('GetJob', { job: id });
        if (job.state === 'succeeded') {
          process.stdout.write(`${toJson(storedJson(job.resultJson || 'null'))}\n`);
          return;
        }
        if (flags.json) process.stdout.write(`${toJson({ state: job.state, error: job.errorJson ? storedJson(job.errorJson) : null })}\n`);
        const why =
          job.state === 'failed'
            ? `failed: ${errorMessage(job)}`
            : job.state === 'cancelled'
              ? 'was cancelled'
              : `is ${job.state}: wait for it with "cr-scheduler status ${id} --watch"`;
        process.stderr.write(`cr-scheduler: job ${id} has no result; it ${why}\n`);
        process.exitCode = 1;
      });
    });
}
