// `cr-scheduler agent`: a node agent. Registers with the scheduler, renews its lease, runs jobs.
import path from 'node:path';
import os from 'node:os';
import { Command, Option } from 'commander';
import { ClusterError } from '../cluster-errors.js';
import { DEFAULT_ADDRESS } from '../names.js';
import { parseCount, parseHostPort, parsePositiveNumber } from '../options.js';
import { EXIT_STOPPED_AT_ONCE } from '../signals.js';
import { credentialOptions, credentialsFrom, LOCAL_AGENT_TOKEN_FILE, schedulerOption, type CredentialFlags } from './common.js';
import { defaultNodeName, logLine } from './serve.js';

interface AgentFlags extends CredentialFlags {
  scheduler: string;
  name: string;
  slots: number;
  work: string;
  runAs?: string;
  drainTimeout: number;
  metrics?: { host: string; port: number };
}

/** Long enough for a job to reach its next safe point and write and upload a checkpoint. */
export const DEFAULT_DRAIN_TIMEOUT_S = 120;

export function agentCommand(): Command {
  return credentialOptions(new Command('agent'), LOCAL_AGENT_TOKEN_FILE)
    .description("run jobs on this machine for a scheduler; jobs of a node that dies resume elsewhere from their latest image")
    .addOption(schedulerOption('the scheduler; with standby schedulers, several: a:7070,b:7070 (the agent follows the leader)').default(DEFAULT_ADDRESS))
    .addOption(new Option('--name <name>', "this node's name, unique in the cluster").env('CR_NODE').default(defaultNodeName(), `the host name, ${defaultNodeName()}`))
    .addOption(new Option('--slots <n>', 'jobs run at once').env('CR_SLOTS').argParser(parseCount('--slots', 1)).default(os.availableParallelism()))
    .addOption(new Option('--work <dir>', "where jobs' code, images and the image key are kept").env('CR_WORK').default('.cr-agent'))
    .addOption(new Option('--run-as <user>', "run jobs' processes as this user, who cannot read the agent's secrets (the agent runs as root)").env('CR_RUN_AS'))
    .addOption(
      new Option('--drain-timeout <seconds>', 'on SIGTERM/SIGINT, wait this long for the jobs to checkpoint and move before ending them')
        .env('CR_DRAIN_TIMEOUT')
        .argParser(parsePositiveNumber('--drain-timeout'))
        .default(DEFAULT_DRAIN_TIMEOUT_S),
    )
    .addOption(new Option('--metrics <host:port>', 'serve Prometheus metrics at http://HOST:PORT/metrics (a PORT alone: on 127.0.0.1)').env('CR_METRICS').argParser(parseHostPort('--metrics')))
    .addHelpText(
      'after',
      `
Examples:
  $ cr-scheduler agent --name node2          # beside a local "serve": its <data>/${LOCAL_AGENT_TOKEN_FILE}
  $ CR_TOKEN_FILE=join.token cr-scheduler agent --scheduler 10.0.0.1:7070 --ca ca.pem --name node7 --slots 16

With --ca (the scheduler's <data>/tls/ca.pem) the agent joins over TLS with its agent token, gets a
client certificate (kept in <work>/tls/, mode 0600) and from then on talks mutual TLS; the token is
not needed again. Without --ca (a loopback scheduler) it sends the token with every call.

Each job runs in a process of its own, with none of the agent's CR_* variables. With --run-as
it also runs under that user's uid and cannot open the agent's token file, certificate key or
the cluster's image key (docs/security-cluster.md says what a job can reach without it).

The agent reconnects on its own when the scheduler restarts or the leader changes (to the leader a
standby names, else the next address given); its jobs keep running meanwhile.
When the scheduler refuses its credential, it says why and exits with status 1.
SIGTERM/SIGINT drain the node: it takes no new work, its jobs checkpoint at their next safe point
and resume on other nodes from there, then the agent exits 0 (1 if --drain-timeout passed first;
jobs not handed back by then resume from their previous image). A second signal exits at once
(${EXIT_STOPPED_AT_ONCE}). Kubernetes' grace period and Slurm's signal lead must exceed --drain-timeout (docs/hpc.md).`,
    )
    .action(async (flags: AgentFlags) => {
      const [{ Agent }, { joinCluster, keepRenewed }, { resolveRunAs, prepareWorkDir }, { AgentMetrics, serveMetrics }] = await Promise.all([
        import('../agent/agent.js'),
        import('../agent/join.js'),
        import('../agent/run-as.js'),
        import('../http/metrics.js'),
      ]);
      const workDir = path.resolve(flags.work);
      let credentials = credentialsFrom(flags, LOCAL_AGENT_TOKEN_FILE);
      const tokenFile = flags.tokenFile ? path.resolve(flags.tokenFile) : null;
      const runAs = flags.runAs ? resolveRunAs(flags.runAs) : null;
      if (runAs) prepareWorkDir(workDir, runAs, tokenFile ? [tokenFile] : []);
      // Jobs' processes get none of this: no CR_* variable, nothing that names the token or the agent's files.
      const isolation = { runAs, hidden: [workDir, ...(tokenFile ? [tokenFile] : []), ...(credentials.token ? [credentials.token] : [])] };
      delete process.env.CR_TOKEN;
      let stopRenewing = (): void => undefined;
      if (credentials.ca) {
        credentials = await joinCluster({ scheduler: flags.scheduler, name: flags.name, workDir, ca: credentials.ca, token: credentials.token });
        stopRenewing = keepRenewed({ scheduler: flags.scheduler, workDir, ca: credentials.ca! }, credentials.identity!, logLine);
      }
      let running = (): number => 0;
      const metrics = new AgentMetrics(() => running(), { processMetrics: flags.metrics !== undefined });
      // Before the agent exists: a metrics address that cannot be served stops it with the reason.
      const listener = flags.metrics ? await serveMetrics(flags.metrics.host, flags.metrics.port, metrics.registry) : null;
      if (listener) logLine(`serving metrics at ${listener.url}`);
      const agent = new Agent({ scheduler: flags.scheduler, name: flags.name, slots: flags.slots, workDir, credentials, isolation, log: logLine, metrics });
      running = () => agent.running;
      agent.start();
      // The listeners stay until the agent exits: removed between the first signal and the
      // second, they left a gap in which a second signal killed the agent with the default action.
      const received: NodeJS.Signals[] = [];
      let wake: (() => void) | null = null;
      const on = (s: NodeJS.Signals): void => {
        received.push(s);
        wake?.();
      };
      process.on('SIGINT', on);
      process.on('SIGTERM', on);
      const signal = async (): Promise<NodeJS.Signals> => {
        while (received.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        return received.shift()!;
      };
      const first = await Promise.race([signal(), agent.refused]);
      if (first instanceof Error) {
        // A refused credential or node name: retrying cannot help, so the agent stops (exit 1).
        stopRenewing();
        await agent.close();
        await listener?.close();
        throw new ClusterError(
          `${first.message}. An agent needs an agent token of its own ` +
            `(on the scheduler's machine: <data>/${LOCAL_AGENT_TOKEN_FILE}, or "cr-scheduler token create --role agent"), given with --token-file or CR_TOKEN_FILE`,
        );
      }
      logLine(`${first}: draining node ${flags.name}: ${agent.running} job${agent.running === 1 ? '' : 's'} will checkpoint and move to other nodes, for at most ${flags.drainTimeout} s (${first} again stops at once)`);
      const again = signal();
      const outcome = await Promise.race([agent.drain(flags.drainTimeout * 1000), again]);
      if (typeof outcome === 'string') {
        logLine(`${outcome} again: stopping at once; the scheduler resumes this node's jobs elsewhere from their latest images`);
        await agent.close();
        process.exitCode = EXIT_STOPPED_AT_ONCE;
      } else if (outcome.left > 0) {
        logLine(`--drain-timeout (${flags.drainTimeout} s) passed with ${outcome.left} job${outcome.left === 1 ? '' : 's'} still checkpointing: ended; they resume elsewhere from their previous image`);
        process.exitCode = 1;
      } else {
        logLine(`drained: every job was handed back to the scheduler; exiting`);
      }
      stopRenewing();
      await listener?.close();
    });
}
