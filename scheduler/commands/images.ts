// `cr-scheduler images JOB`: the images the scheduler holds for a job, the newest last.
import { formatBytes, table, toJson } from '../output.js';
import { clusterCommand, parseJobArg, withCluster, type ClusterFlags } from './common.js';

export function imagesCommand() {
  return clusterCommand('images', "the checkpoint images the scheduler holds for a job")
    .argument('<job>', 'a job id', parseJobArg)
    .action(async (id: number, flags: ClusterFlags) => {
      await withCluster(flags, async (cluster) => {
        const { images } = await cluster.call('ListImages', { job: id });
        if (flags.json) return void process.stdout.write(`${toJson(images.map((i) => ({ ...i, createdAt: new Date(i.createdAt).toISOString() })))}\n`);
        if (images.length === 0) return void process.stdout.write(`job ${id} has no image yet\n`);
        const rows = images.map((i) => [i.sequence, i.attempt, i.node, formatBytes(i.bytes), i.bases.length > 0 ? `incremental on ${i.bases.join(', ')}` : 'full', new Date(i.createdAt).toISOString()]);
        process.stdout.write(`${table(['IMAGE', 'ATTEMPT', 'NODE', 'SIZE', 'KIND', 'TAKEN'], rows)}\n`);
      });
    });
}
