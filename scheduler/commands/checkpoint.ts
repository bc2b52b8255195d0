// `cr-scheduler checkpoint JOB`: the job takes a checkpoint at its next safe point and goes on.
import { toJson } from '../output.js';
import { clusterCommand, jobJson, parseJobArg, withCluster, type ClusterFlags } from './common.js';

export function checkpointCommand() {
  return clusterCommand('checkpoint', 'ask a running job for a checkpoint at its next safe point')
    .argument('<job>', 'a job id', parseJobArg)
    .action(async (id: number, flags: ClusterFlags) => {
      await withCluster(flags, async (cluster) => {
        const job = await cluster.call('Checkpoint', { job: id });
        if (flags.json) return void process.stdout.write(`${toJson(jobJson(job))}\n`);
        process.stdout.write(`job ${id} on node ${job.node}: checkpoint requested ("cr-scheduler images ${id}" lists its images)\n`);
      });
    });
}
