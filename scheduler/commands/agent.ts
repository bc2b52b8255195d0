// `cr-scheduler agent`: a node agent. Registers with the scheduler, renews its lease, runs jobs.
import path from 'node:path';
import os from 'node:os';
import { Command, Option } from 'commander';
import { DEFAULT_ADDRESS } from '../names.js';
import { parseCount } from '../options.js';
import { ClusterError } from '../cluster-errors.js';
import { credentialOptions, credentialsFrom, LOCAL_AGENT_TOKEN_FILE, type CredentialFlags } from './common.js';
import { defaultNodeName, logLine } from './serve.js';

interface AgentFlags extends CredentialFlags {
  scheduler: string;
  name: string;
  slots: number;
  work: string;
}

export function agentCommand(): Command {
  return credentialOptions(new Command('agent'), LOCAL_AGENT_TOKEN_FILE)
    .description("run jobs on this machine for a scheduler; jobs of a node that dies resume elsewhere from their latest image")
    .addOption(new Option('--scheduler <host:port>', 'the scheduler').env('CR_SCHEDULER').default(DEFAULT_ADDRESS))
    .addOption(new Option('--name <name>', "this node's name, unique in the cluster").env('CR_NODE').default(defaultNodeName(), `the host name, ${defaultNodeName()}`))
    .addOption(new Option('--slots <n>', 'jobs run at once').env('CR_SLOTS').argParser(parseCount('--slots', 1)).default(os.availableParallelism()))
    .addOption(new Option('--work <dir>', "where jobs' code, images and the image key are kept").env('CR_WORK').default('.cr-agent'))
    .addHelpText(
      'after',
      `
Examples:
  $ cr-scheduler agent --name node2          # beside a local "serve": its <data>/${LOCAL_AGENT_TOKEN_FILE}
  $ CR_TOKEN_FILE=join.token cr-scheduler agent --scheduler 10.0.0.1:7070 --ca ca.pem --name node7 --slots 16

With --ca (the scheduler's <data>/tls/ca.pem) the agent joins over TLS with its agent token, gets a
client certificate (kept in <work>/tls/, mode 0600) and from then on talks mutual TLS; the token is
not needed again. Without --ca (a loopback scheduler) it sends the token with every call.

The agent reconnects on its own when the scheduler restarts; its jobs keep running meanwhile.
When the scheduler refuses its credential, it says why and exits with status 1.
SIGINT/SIGTERM end its jobs' threads at once: the scheduler resumes them elsewhere.`,
    )
    .action(async (flags: AgentFlags) => {
      const [{ Agent }, { joinCluster }] = await Promise.all([import('../agent/agent.js'), import('../agent/join.js')]);
      const workDir = path.resolve(flags.work);
      let credentials = credentialsFrom(flags, LOCAL_AGENT_TOKEN_FILE);
      // Jobs run in this process's worker threads: they must not find the token in their environment.
      delete process.env.CR_TOKEN;
      if (credentials.ca) credentials = await joinCluster({ scheduler: flags.scheduler, name: flags.name, workDir, ca: credentials.ca, token: credentials.token });
      const agent = new Agent({ scheduler: flags.scheduler, name: flags.name, slots: flags.slots, workDir, credentials, log: logLine });
      agent.start();
      const refused = await Promise.race([
        agent.refused,
        new Promise<null>((resolve) => {
          process.once('SIGINT', () => resolve(null));
          process.once('SIGTERM', () => resolve(null));
        }),
      ]);
      await agent.close();
      if (refused !== null) {
        throw new ClusterError(
          `the scheduler at ${flags.scheduler} refused this agent: ${refused}. An agent needs an agent token ` +
            `(on the scheduler's machine: <data>/${LOCAL_AGENT_TOKEN_FILE}, or "cr-scheduler token create --role agent"), given with --token-file or CR_TOKEN_FILE`,
        );
      }
    });
}
