// `cr-scheduler status [JOB]`: one job in detail, or every job that has not ended.
import { Option } from 'commander';
import { formatMs, table, toJson } from '../output.js';
import type { Cluster } from '../client.js';
import { printable } from '../escape.js';
import { clusterCommand, elapsed, errorMessage, isoTime, jobJson, jobState, parseJobArg, withCluster, type ClusterFlags } from './common.js';
import { watchJob } from './watch.js';

export function statusCommand() {
  return clusterCommand('status', "a job's state, node, progress and attempts (without JOB: every job not ended)")
    .argument('[job]', 'a job id', parseJobArg)
    .addOption(new Option('--watch', 'follow the job until it ends'))
    .action(async (id: number | undefined, flags: ClusterFlags & { watch?: boolean }) => {
      await withCluster(flags, async (cluster) => {
        await storageWarning(cluster);
        if (id === undefined) {
          const { jobs } = await cluster.call('ListJobs', { states: ['queued', 'running'] });
          if (flags.json) return void process.stdout.write(`${toJson(jobs.map(jobJson))}\n`);
          if (jobs.length === 0) return void process.stdout.write('no jobs queued or running\n');
          // Bars on a terminal; plain columns for pipes and files.
          const tty = process.stdout.isTTY === true;
          const rows = jobs.map((j) => [j.id, printable(j.name), jobState(j), printable(j.node) || '-', `${(j.progress * 100).toFixed(0)}%`, ...(tty ? [progressBar(j.progress)] : []), elapsed(j)]);
          return void process.stdout.write(`${table(['ID', 'NAME', 'STATE', 'NODE', 'DONE', ...(tty ? [''] : []), 'TIME'], rows)}\n`);
        }
        if (flags.watch) {
          process.exitCode = await watchJob(cluster, id, flags.json === true);
          return;
        }
        const job = await cluster.call('GetJob', { job: id });
        if (flags.json) return void process.stdout.write(`${toJson(jobJson(job))}\n`);
        const lines: [string, string][] = [
          ['job', `${job.id} "${printable(job.name)}"`],
          ['owner', printable(job.owner) || '-'],
          ['state', jobState(job)],
          ['node', printable(job.node) || '-'],
          ['progress', `${process.stdout.isTTY ? `${progressBar(job.progress)} ` : ''}${(job.progress * 100).toFixed(1)}%${job.message ? ` ${printable(job.message)}` : ''}`],
          ['attempt', `${job.attempt} (${job.retriesUsed} of ${job.retries} retries used, moved ${job.moves} time${job.moves === 1 ? '' : 's'})`],
          ['images', String(job.images)],
          ['priority', String(job.priority)],
          ['submitted', isoTime(job.submittedAt)],
        ];
        if (job.startedAt) lines.push(['running for', elapsed(job)]);
        if (job.finishedAt) lines.push(['ended', `${isoTime(job.finishedAt)} (${formatMs(job.finishedAt - job.submittedAt)} after submission)`]);
        if (job.state === 'failed' || job.errorJson) lines.push([job.state === 'failed' ? 'error' : 'last error', errorMessage(job)]);
        if (job.state === 'succeeded') lines.push(['result', `cr-scheduler result ${job.id}`]);
        const width = Math.max(...lines.map(([k]) => k.length));
        process.stdout.write(`${lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`);
      });
    });
}

/** The scheduler's own trouble (a full disk), on stderr ahead of the answer. */
async function storageWarning(cluster: Cluster): Promise<void> {
  const { storage } = await cluster.call('ListNodes', {});
  if (storage) process.stderr.write(`warning: ${printable(storage)}\n`);
}

/** A bar made of text, for tables and lines where no live bar runs. */
export function progressBar(fraction: number, width = 20): string {
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}
