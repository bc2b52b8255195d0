// `cr-scheduler agent`: a node agent. Registers with the scheduler, renews its lease, runs jobs.
import path from 'node:path';
import os from 'node:os';
import { Command, Option } from 'commander';
import { DEFAULT_ADDRESS } from '../names.js';
import { parseCount } from '../options.js';
import { credentialOptions, credentialsFrom, type CredentialFlags } from './common.js';
import { defaultNodeName, logLine } from './serve.js';

interface AgentFlags extends CredentialFlags {
  scheduler: string;
  name: string;
  slots: number;
  work: string;
  runAs?: string;
}

export function agentCommand(): Command {
  return credentialOptions(new Command('agent'))
    .description("run jobs on this machine for a scheduler; jobs of a node that dies resume elsewhere from their latest image")
    .addOption(new Option('--scheduler <host:port>', 'the scheduler').env('CR_SCHEDULER').default(DEFAULT_ADDRESS))
    .addOption(new Option('--name <name>', "this node's name, unique in the cluster").env('CR_NODE').default(defaultNodeName()))
    .addOption(new Option('--slots <n>', 'jobs run at once').env('CR_SLOTS').argParser(parseCount('--slots', 1)).default(os.availableParallelism()))
    .addOption(new Option('--work <dir>', "where jobs' code, images and the image key are kept").env('CR_WORK').default('.cr-agent'))
    .addOption(new Option('--run-as <user>', "run jobs' processes as this user, who cannot read the agent's secrets (the agent runs as root)").env('CR_RUN_AS'))
    .addHelpText(
      'after',
      `
Example:
  $ CR_TOKEN_FILE=join.token cr-scheduler agent --scheduler 10.0.0.1:7070 --ca ca.pem --name node7 --slots 16

With --ca (the scheduler's <data>/tls/ca.pem) the agent joins over TLS with its agent token, gets a
client certificate (kept in <work>/tls/, mode 0600) and from then on talks mutual TLS; the token is
not needed again. Without --ca (a loopback scheduler) it sends the token with every call.

Each job runs in a process of its own, with none of the agent's CR_* variables. With --run-as
it also runs under that user's uid and cannot open the agent's token file, certificate key or
the cluster's image key (docs/security-cluster.md says what a job can reach without it).

The agent reconnects on its own when the scheduler restarts; its jobs keep running meanwhile.
SIGINT/SIGTERM end its jobs' processes at once: the scheduler resumes them elsewhere.`,
    )
    .action(async (flags: AgentFlags) => {
      const [{ Agent }, { joinCluster }, { resolveRunAs, prepareWorkDir }] = await Promise.all([import('../agent/agent.js'), import('../agent/join.js'), import('../agent/run-as.js')]);
      const workDir = path.resolve(flags.work);
      let credentials = credentialsFrom(flags);
      const tokenFile = flags.tokenFile ? path.resolve(flags.tokenFile) : null;
      const runAs = flags.runAs ? resolveRunAs(flags.runAs) : null;
      if (runAs) prepareWorkDir(workDir, runAs, tokenFile ? [tokenFile] : []);
      // Jobs' processes get none of this: no CR_* variable, nothing that names the token or the agent's files.
      const isolation = { runAs, hidden: [workDir, ...(tokenFile ? [tokenFile] : []), ...(credentials.token ? [credentials.token] : [])] };
      delete process.env.CR_TOKEN;
      if (credentials.ca) credentials = await joinCluster({ scheduler: flags.scheduler, name: flags.name, workDir, ca: credentials.ca, token: credentials.token });
      const agent = new Agent({ scheduler: flags.scheduler, name: flags.name, slots: flags.slots, workDir, credentials, isolation, log: logLine });
      agent.start();
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await agent.close();
    });
}
