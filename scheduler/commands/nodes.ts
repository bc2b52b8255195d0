// `cr-scheduler nodes`: the agents the scheduler knows, alive, draining or dead.
import { formatMs, table, toJson } from '../output.js';
import { printable } from '../escape.js';
import { clusterCommand, isoTime, withCluster, type ClusterFlags } from './common.js';

export function nodesCommand() {
  return clusterCommand('nodes', 'the nodes, their slots and what runs on them').action(async (flags: ClusterFlags) => {
    await withCluster(flags, async (cluster) => {
      const { nodes, storage } = await cluster.call('ListNodes', {});
      if (storage) process.stderr.write(`warning: ${printable(storage)}\n`);
      if (flags.json) {
        const rows = nodes.map((n) => ({ ...n, lastSeen: isoTime(n.lastSeen), registeredAt: isoTime(n.registeredAt) }));
        return void process.stdout.write(`${toJson(rows)}\n`);
      }
      if (nodes.length === 0) return void process.stdout.write('no nodes: start one with "cr-scheduler agent --scheduler HOST:PORT"\n');
      const now = Date.now();
      const rows = nodes.map((n) => [printable(n.name), n.state, n.slots, n.running, `${formatMs(Math.max(0, now - n.lastSeen))} ago`]);
      process.stdout.write(`${table(['NODE', 'STATE', 'SLOTS', 'RUNNING', 'LAST SEEN'], rows)}\n`);
    });
  });
}
