// `cr-scheduler images JOB [--delete]`: the images the scheduler holds for a job, the newest
// last; --delete removes those of a job that has ended (one still queued or running resumes
// from them, so it is refused).
import { Option } from 'commander';
import { printable } from '../escape.js';
import { formatBytes, table, toJson } from '../output.js';
import { clusterCommand, isoTime, parseJobArg, withCluster, type ClusterFlags } from './common.js';

export function imagesCommand() {
  return clusterCommand('images', 'the checkpoint images the scheduler holds for a job')
    .argument('<job>', 'a job id', parseJobArg)
    .addOption(new Option('--delete', 'remove the images of a job that has ended (finished jobs lose them anyway after serve --keep-finished)'))
    .action(async (id: number, flags: ClusterFlags & { delete?: boolean }) => {
      await withCluster(flags, async (cluster) => {
        const { images } = await cluster.call(flags.delete ? 'DeleteImages' : 'ListImages', { job: id });
        if (flags.json) return void process.stdout.write(`${toJson(images.map((i) => ({ ...i, createdAt: isoTime(i.createdAt) })))}\n`);
        if (flags.delete) {
          const bytes = images.reduce((sum, i) => sum + i.bytes, 0);
          return void process.stdout.write(images.length === 0 ? `job ${id} had no image\n` : `removed ${images.length} image${images.length === 1 ? '' : 's'} of job ${id} (${formatBytes(bytes)})\n`);
        }
        if (images.length === 0) return void process.stdout.write(`job ${id} has no image yet\n`);
        const rows = images.map((i) => [i.sequence, i.attempt, printable(i.node), formatBytes(i.bytes), i.bases.length > 0 ? `incremental on ${i.bases.join(', ')}` : 'full', isoTime(i.createdAt)]);
        process.stdout.write(`${table(['IMAGE', 'ATTEMPT', 'NODE', 'SIZE', 'KIND', 'TAKEN'], rows)}\n`);
      });
    });
}
