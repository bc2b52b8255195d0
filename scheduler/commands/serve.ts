// `cr-scheduler serve`: the scheduler, with an embedded agent for this machine unless
// --no-local-agent. The first line on stdout is the address it listens on (tests use --port 0).
import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { DEFAULT_HOST, DEFAULT_LEASE_TIMEOUT_MS, DEFAULT_PORT } from '../names.js';
import { parseCount, parsePositiveNumber } from '../options.js';

interface ServeFlags {
  host: string;
  port: number;
  data: string;
  leaseTimeout: number;
  localAgent: boolean;
  slots: number;
  name: string;
}

export const DEFAULT_DATA_DIR = '.cr-scheduler';

export function defaultNodeName(): string {
  return os.hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'node';
}

export function logLine(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the scheduler: keeps jobs in <data>/scheduler.db, places them on agents, stores their images')
    .addOption(new Option('--host <host>', 'address to listen on (loopback by default: the service has no authentication yet)').env('CR_HOST').default(DEFAULT_HOST))
    .addOption(new Option('--port <port>', 'port to listen on (0: any free port)').env('CR_PORT').argParser(parseCount('--port')).default(DEFAULT_PORT))
    .addOption(new Option('--data <dir>', 'the database, images and image key').env('CR_DATA').default(DEFAULT_DATA_DIR))
    .addOption(
      new Option('--lease-timeout <seconds>', 'a node not heard from for this long is presumed dead and its jobs move')
        .env('CR_LEASE_TIMEOUT')
        .argParser(parsePositiveNumber('--lease-timeout'))
        .default(DEFAULT_LEASE_TIMEOUT_MS / 1000),
    )
    .addOption(new Option('--no-local-agent', 'do not run jobs on this machine'))
    .addOption(new Option('--slots <n>', "the local agent's slots").argParser(parseCount('--slots', 1)).default(os.availableParallelism()))
    .addOption(new Option('--name <name>', "the local agent's node name").default(defaultNodeName()))
    .addHelpText(
      'after',
      `
Examples:
  $ cr-scheduler serve
  $ cr-scheduler serve --port 0 --data /var/lib/cr --lease-timeout 10 --no-local-agent

Prints "listening on HOST:PORT" on stdout when ready. Killed at any moment, it restarts with the
jobs it had: running jobs keep running on their agents, which reconnect on their own.`,
    )
    .action(async (flags: ServeFlags) => {
      await serve(flags);
    });
}

async function serve(flags: ServeFlags): Promise<void> {
  const [{ Agent }, { SchedulerCore }, { listen }] = await Promise.all([import('../agent/agent.js'), import('../server/scheduler.js'), import('../server/service.js')]);
  const core = new SchedulerCore({ dataDir: flags.data, leaseTimeoutMs: Math.round(flags.leaseTimeout * 1000), log: logLine });
  const { server, port } = await listen(core, flags.host, flags.port);
  core.start();
  const address = `${flags.host}:${port}`;
  process.stdout.write(`listening on ${address}\n`);
  logLine(`scheduler ${address}, data in ${path.resolve(flags.data)}, lease timeout ${flags.leaseTimeout} s`);
  let agent: InstanceType<typeof Agent> | null = null;
  if (flags.localAgent) {
    agent = new Agent({ scheduler: address, name: flags.name, slots: flags.slots, workDir: path.join(flags.data, 'agent'), log: (l) => logLine(`agent: ${l}`) });
    agent.start();
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logLine(`${signal}: shutting down (running jobs on other nodes go on; they reconnect when a scheduler is back)`);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await agent?.close();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  core.close();
}
