// `cr-scheduler cancel JOB`: ends a queued or running job; its images are kept.
import { toJson } from '../output.js';
import { clusterCommand, jobJson, parseJobArg, withCluster, type ClusterFlags } from './common.js';

export function cancelCommand() {
  return clusterCommand('cancel', 'cancel a queued or running job (its process is ended at once, without a checkpoint)')
    .argument('<job>', 'a job id', parseJobArg)
    .action(async (id: number, flags: ClusterFlags) => {
      await withCluster(flags, async (cluster) => {
        const before = await cluster.call('GetJob', { job: id });
        const job = await cluster.call('Cancel', { job: id });
        if (flags.json) return void process.stdout.write(`${toJson(jobJson(job))}\n`);
        process.stdout.write(before.state === job.state ? `job ${id} had already ${job.state === 'cancelled' ? 'been cancelled' : job.state}\n` : `job ${id} cancelled\n`);
      });
    });
}
