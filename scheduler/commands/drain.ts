// `cr-scheduler drain NODE`: the node's jobs checkpoint at their next safe point, stop, and
// resume elsewhere; the node takes no new work until `drain NODE --undo`.
import { Option } from 'commander';
import { toJson } from '../output.js';
import { clusterCommand, withCluster, type ClusterFlags } from './common.js';

export function drainCommand() {
  return clusterCommand('drain', "move a node's jobs elsewhere through a checkpoint; the node takes no new work")
    .argument('<node>', 'a node name, as "cr-scheduler nodes" shows it')
    .addOption(new Option('--undo', 'let the node take work again'))
    .action(async (node: string, flags: ClusterFlags & { undo?: boolean }) => {
      await withCluster(flags, async (cluster) => {
        const info = await cluster.call('Drain', { node, undo: flags.undo === true });
        if (flags.json) return void process.stdout.write(`${toJson(info)}\n`);
        process.stdout.write(
          flags.undo
            ? `node ${node} takes work again\n`
            : `node ${node} is draining: ${info.running} job${info.running === 1 ? '' : 's'} will checkpoint and move ("cr-scheduler list" shows where)\n`,
        );
      });
    });
}
