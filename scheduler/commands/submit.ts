// `cr-scheduler submit job.mjs`: bundles the job with its imports and queues it.
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, Option } from 'commander';
import { DEFAULT_FULL_EVERY, DEFAULT_INTERVAL_MS } from '../../src/internal.js';
import { parseCount, parseJsonText, parsePositiveNumber } from '../options.js';
import { toJson, UsageError } from '../output.js';
import { clusterCommand, jobJson, withCluster, type ClusterFlags } from './common.js';
import { watchJob } from './watch.js';

interface SubmitFlags extends ClusterFlags {
  /** JSON text, checked by parseJsonText (so that `--args null` stays null). */
  args: string;
  name?: string;
  retries: number;
  priority: number;
  interval: number;
  fullEvery: number;
  watch?: boolean;
}

export function submitCommand() {
  return clusterCommand('submit', 'send a job to the scheduler, which places it on a node and moves it when the node dies')
    .argument('<job>', 'the job module; its relative imports and packages, and modules it names by new URL(\'./m.mjs\', import.meta.url), are bundled with it (cr is not)')
    .addOption(new Option('--args <json>', "the job's arguments, as JSON").argParser(parseJsonText).default('{}', '{}'))
    .addOption(new Option('--name <name>', 'a name to show (default: the file\'s base name)'))
    .addOption(new Option('--retries <n>', 'restarts after the job fails by its own error (a lost node costs none)').argParser(parseCount('--retries')).default(3))
    .addOption(new Option('--priority <p>', 'higher runs first; equal priorities run in submission order').argParser(parseInteger('--priority')).default(0))
    .addOption(new Option('--interval <seconds>', 'checkpoint interval').env('CR_INTERVAL').argParser(parsePositiveNumber('--interval')).default(DEFAULT_INTERVAL_MS / 1000))
    .addOption(new Option('--full-every <n>', 'every nth image is full, the others incremental').argParser(parseCount('--full-every', 1)).default(DEFAULT_FULL_EVERY))
    .addOption(new Option('--watch', 'then follow the job until it ends (progress bar on a terminal)'))
    .addHelpText(
      'after',
      `
Examples:
  $ cr-scheduler submit examples/heat2d.mjs --args '{"n": 1024}' --watch
  $ cr-scheduler submit job.mjs --retries 5 --priority 10 --json

Prints the job's id. With --watch, exits 0 when the job succeeded, 1 when it failed or was cancelled.`,
    )
    .action(async (file: string, flags: SubmitFlags) => {
      if (!fs.existsSync(file)) throw new UsageError(`no job file at ${file}`);
      const { bundleJob } = await import('../bundle.js');
      const code = await bundleJob(file);
      await withCluster(flags, async (cluster) => {
        const job = await cluster.call('Submit', {
          name: flags.name ?? path.basename(file).replace(/\.[cm]?[jt]s$/, ''),
          code,
          argsJson: flags.args,
          retries: flags.retries,
          priority: flags.priority,
          intervalMs: Math.round(flags.interval * 1000),
          fullEvery: flags.fullEvery,
        });
        if (!flags.watch) {
          process.stdout.write(flags.json ? `${toJson(jobJson(job))}\n` : `${job.id}\n`);
          return;
        }
        if (!flags.json) process.stderr.write(`submitted job ${job.id} "${job.name}"\n`);
        process.exitCode = await watchJob(cluster, job.id, flags.json === true);
      });
    });
}

function parseInteger(what: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || Math.abs(n) > 2 ** 31 - 1) throw new InvalidArgumentError(`${what} must be a whole number, got "${value}"`);
    return n;
  };
}
