// `cr-scheduler list`: every job the scheduler knows, oldest first.
import { Option } from 'commander';
import { printable } from '../escape.js';
import { table, toJson } from '../output.js';
import { clusterCommand, elapsed, jobJson, jobState, withCluster, type ClusterFlags } from './common.js';

export function listCommand() {
  return clusterCommand('list', 'your jobs, with their state (an admin sees every job)')
    .addOption(new Option('--state <state...>', 'only jobs in these states').choices(['queued', 'running', 'succeeded', 'failed', 'cancelled']))
    .addOption(new Option('--all', "everyone's jobs (others' without their results; you cannot act on them)"))
    .action(async (flags: ClusterFlags & { state?: string[]; all?: boolean }) => {
      await withCluster(flags, async (cluster) => {
        const { jobs } = await cluster.call('ListJobs', { states: flags.state ?? [], all: flags.all === true });
        if (flags.json) return void process.stdout.write(`${toJson(jobs.map(jobJson))}\n`);
        if (jobs.length === 0) return void process.stdout.write('no jobs\n');
        const rows = jobs.map((j) => [j.id, printable(j.name), printable(j.owner) || '-', jobState(j), printable(j.node) || '-', `${(j.progress * 100).toFixed(0)}%`, j.attempt, elapsed(j)]);
        process.stdout.write(`${table(['ID', 'NAME', 'OWNER', 'STATE', 'NODE', 'DONE', 'ATTEMPTS', 'TIME'], rows)}\n`);
      });
    });
}
