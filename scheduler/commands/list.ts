// `cr-scheduler list`: the newest jobs the scheduler knows (all with --limit 0), oldest first.
import { Option } from 'commander';
import { printable } from '../escape.js';
import { parseCount } from '../options.js';
import { table, toJson } from '../output.js';
import { clusterCommand, elapsed, jobJson, jobState, withCluster, type ClusterFlags } from './common.js';

/** Jobs `list` shows by default: a scheduler's history grows without end, a terminal does not. */
export const DEFAULT_LIST_LIMIT = 1000;

export function listCommand() {
  return clusterCommand('list', 'your jobs, with their state (an admin sees every job)')
    .addOption(new Option('--state <state...>', 'only jobs in these states').choices(['queued', 'running', 'succeeded', 'failed', 'cancelled']))
    .addOption(new Option('--all', "everyone's jobs (others' without their results; you cannot act on them)"))
    .addOption(new Option('--limit <n>', 'the newest N jobs; 0: all').env('CR_LIST_LIMIT').argParser(parseCount('--limit', 0)).default(DEFAULT_LIST_LIMIT))
    .action(async (flags: ClusterFlags & { state?: string[]; all?: boolean; limit: number }) => {
      await withCluster(flags, async (cluster) => {
        const { jobs, more } = await cluster.call('ListJobs', { states: flags.state ?? [], all: flags.all === true, limit: flags.limit });
        if (flags.json) return void process.stdout.write(`${toJson(jobs.map(jobJson))}\n`);
        if (more) process.stderr.write(`older jobs not shown: --limit ${flags.limit}; --limit 0 lists them all\n`);
        if (jobs.length === 0) return void process.stdout.write('no jobs\n');
        const rows = jobs.map((j) => [j.id, printable(j.name), printable(j.owner) || '-', jobState(j), printable(j.node) || '-', `${(j.progress * 100).toFixed(0)}%`, j.attempt, elapsed(j)]);
        process.stdout.write(`${table(['ID', 'NAME', 'OWNER', 'STATE', 'NODE', 'DONE', 'ATTEMPTS', 'TIME'], rows)}\n`);
      });
    });
}
