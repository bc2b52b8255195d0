// `cr-scheduler node revoke NAME`: the node's certificates (and on loopback the agent tokens
// bound to it) are revoked and its session ends; its jobs move, and the name may join again.
import { Command } from 'commander';
import { toJson } from '../output.js';
import { clusterCommand, withCluster, type ClusterFlags } from './common.js';

export function nodeCommand(): Command {
  const revoke = clusterCommand('revoke', "revoke a node's credentials: its calls are refused from now on, its jobs move elsewhere")
    .argument('<name>', 'a node name, as "cr-scheduler nodes" shows it')
    .addHelpText(
      'after',
      `
Example:
  $ cr-scheduler node revoke node7

A lost or compromised machine, or a node name to be joined again by another machine: the name
may join again (with a new agent token) once revoked.`,
    )
    .action(async (name: string, flags: ClusterFlags) => {
      await withCluster(flags, async (cluster) => {
        const reply = await cluster.call('RevokeNode', { node: name });
        if (flags.json) return void process.stdout.write(`${toJson({ node: name, ...reply })}\n`);
        const what = `${reply.certificates} certificate${reply.certificates === 1 ? '' : 's'} and ${reply.tokens} agent token${reply.tokens === 1 ? '' : 's'}`;
        process.stdout.write(`node ${name} revoked (${what}); it may join again with a new agent token\n`);
      });
    });
  return new Command('node').description("manage one node's credentials (needs an admin token)").addCommand(revoke.exitOverride());
}
