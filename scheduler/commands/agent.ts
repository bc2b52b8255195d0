// `cr-scheduler agent`: a node agent. Registers with the scheduler, renews its lease, runs jobs.
import path from 'node:path';
import os from 'node:os';
import { Command, Option } from 'commander';
import { ClusterError } from '../cluster-errors.js';
import { DEFAULT_ADDRESS } from '../names.js';
import { parseCount } from '../options.js';
import { credentialOptions, credentialsFrom, type CredentialFlags } from './common.js';
import { defaultNodeName, logLine } from './serve.js';

interface AgentFlags extends CredentialFlags {
  scheduler: string;
  name: string;
  slots: number;
  work: string;
}

export function agentCommand(): Command {
  return credentialOptions(new Command('agent'))
    .description("run jobs on this machine for a scheduler; jobs of a node that dies resume elsewhere from their latest image")
    .addOption(new Option('--scheduler <host:port>', 'the scheduler').env('CR_SCHEDULER').default(DEFAULT_ADDRESS))
    .addOption(new Option('--name <name>', "this node's name, unique in the cluster").env('CR_NODE').default(defaultNodeName()))
    .addOption(new Option('--slots <n>', 'jobs run at once').env('CR_SLOTS').argParser(parseCount('--slots', 1)).default(os.availableParallelism()))
    .addOption(new Option('--work <dir>', "where jobs' code, images and the image key are kept").env('CR_WORK').default('.cr-agent'))
    .addHelpText(
      'after',
      `
Example:
  $ CR_TOKEN_FILE=join.token cr-scheduler agent --scheduler 10.0.0.1:7070 --ca ca.pem --name node7 --slots 16

With --ca (the scheduler's <data>/tls/ca.pem) the agent joins over TLS with its agent token, gets a
client certificate (kept in <work>/tls/, mode 0600) and from then on talks mutual TLS; the token is
not needed again. Without --ca (a loopback scheduler) it sends the token with every call.

The agent reconnects on its own when the scheduler restarts; its jobs keep running meanwhile.
SIGINT/SIGTERM end its jobs' threads at once: the scheduler resumes them elsewhere.`,
    )
    .action(async (flags: AgentFlags) => {
      const [{ Agent }, { joinCluster, keepRenewed }] = await Promise.all([import('../agent/agent.js'), import('../agent/join.js')]);
      const workDir = path.resolve(flags.work);
      let credentials = credentialsFrom(flags);
      // Jobs run in this process's worker threads: they must not find the token in their environment.
      delete process.env.CR_TOKEN;
      let stopRenewing = (): void => undefined;
      if (credentials.ca) {
        credentials = await joinCluster({ scheduler: flags.scheduler, name: flags.name, workDir, ca: credentials.ca, token: credentials.token });
        stopRenewing = keepRenewed({ scheduler: flags.scheduler, workDir, ca: credentials.ca! }, credentials.identity!, logLine);
      }
      const agent = new Agent({ scheduler: flags.scheduler, name: flags.name, slots: flags.slots, workDir, credentials, log: logLine });
      agent.start();
      const refused = await new Promise<Error | null>((resolve) => {
        process.once('SIGINT', () => resolve(null));
        process.once('SIGTERM', () => resolve(null));
        void agent.refused.then(resolve);
      });
      stopRenewing();
      await agent.close();
      // A refused credential or node name: retrying cannot help, so the agent stops (exit 1).
      if (refused !== null) throw new ClusterError(refused.message);
    });
}
