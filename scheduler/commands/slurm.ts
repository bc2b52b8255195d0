// `cr-scheduler slurm script`: prints an sbatch script that runs a job with `cr-scheduler run`
// and requeues it after a checkpoint ahead of the wall time, or (--agent) a pilot that runs an
// agent in the allocation and drains it ahead of the wall time. The run or agent flags are
// checked by those commands' own parsers and written into the script as given.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_SIGNAL_LEAD_S, jobScript, MAX_SIGNAL_LEAD_S, pilotScript, shellWord, SIGNAL_AFTER_START_S, SLURM_SIGNAL_EARLY_S, slurmTimeSeconds } from '../hpc/slurm-script.js';
import { parseCount, quote } from '../options.js';
import { UsageError } from '../output.js';
import { agentCommand, DEFAULT_DRAIN_TIMEOUT_S } from './agent.js';
import { DEFAULT_STORE, runCommand } from './run.js';

interface ScriptFlags {
  agent?: boolean;
  time?: string;
  signalLead: number;
  requeue?: boolean;
  jobName?: string;
  sbatch: string[];
  command?: string;
}

/** Flags the script sets itself, or that would do harm in every allocation after the first. */
const REFUSED_RUN = new Map([
  ['--fresh', 'it would delete the images at every requeue'],
  ['--from', 'every allocation would resume from that one image; the script resumes from the latest'],
  ['--stop-signal', 'the script sets it (SIGUSR1, which Slurm sends)'],
  ['--checkpoint-signal', 'the script sets it (SIGUSR2: scancel --batch --signal=USR2 JOB takes a checkpoint now)'],
]);
const REFUSED_AGENT = new Map([
  ['--name', 'each pilot names itself <host>-slurm<job id>, unique in a job array'],
  ['--token', 'the token would be written into the script: use --token-file (or CR_TOKEN_FILE) on storage the compute nodes see'],
]);
/** Paths that are never shared between nodes. */
const NODE_LOCAL = /^\/(tmp|var\/tmp|dev\/shm)(\/|$)/;

export function slurmCommand(): Command {
  const slurm = new Command('slurm').description('run cr under Slurm (docs/hpc.md)');
  slurm.addCommand(
    new Command('script')
      .description('print an sbatch script: a job that checkpoints ahead of its wall time and requeues itself, or (--agent) a pilot agent')
      .argument('[job]', 'the job module (not with --agent)')
      .argument('[flags...]', '"cr-scheduler run" flags for the job, or "cr-scheduler agent" flags with --agent')
      .addOption(new Option('--agent', 'a pilot: run "cr-scheduler agent" in the allocation and drain it ahead of the wall time'))
      .addOption(new Option('--time <limit>', 'the wall time, as sbatch takes it: minutes, HH:MM:SS, D-HH:MM …'))
      .addOption(
        new Option('--signal-lead <seconds>', 'Slurm signals cr this long before the wall time: more than the time to the next safe point plus a checkpoint and its upload')
          .argParser(parseCount('--signal-lead', 1))
          .default(DEFAULT_SIGNAL_LEAD_S),
      )
      .addOption(new Option('--requeue', 'after a clean stop, requeue the Slurm job to resume in a new allocation (default for a job)'))
      .addOption(new Option('--no-requeue', 'end the Slurm job after a clean stop (default for a pilot)'))
      .addOption(new Option('--job-name <name>', 'sbatch --job-name (default: cr-<job> or cr-agent)'))
      .addOption(new Option('--sbatch <option>', 'one more #SBATCH option, e.g. --sbatch=--partition=long (repeatable)').argParser((v: string, all: string[]) => [...all, v]).default([], 'none'))
      .addOption(new Option('--command <words>', 'how compute nodes run cr-scheduler (default: this Node and this cr-scheduler, by absolute path)'))
      .allowUnknownOption()
      .addHelpText(
        'after',
        `
Examples:
  $ cr-scheduler slurm script sim.mjs --store /shared/cr --interval 600 --time 24:00:00 > sim.sbatch
  $ sbatch sim.sbatch
  $ cr-scheduler slurm script --agent --scheduler head:7070 --ca ca.pem --token-file ~/agent.token \\
      --time 4:00:00 --sbatch=--array=1-16 > pilots.sbatch

Slurm sends USR1 --signal-lead seconds before the wall time (sbatch --signal=B:USR1@LEAD, which
may come up to a minute earlier still). A job checkpoints and stops with exit 75, and the
script requeues it (scontrol requeue); its next allocation resumes from the latest image, so the
store must be on storage every compute node mounts. "scancel --batch --signal=USR2 JOB" takes
a checkpoint now. A pilot's agent drains: its jobs checkpoint and move to other agents. The
script prints the attempt (SLURM_RESTART_COUNT + 1) to the log.`,
      )
      .action(async (job: string | undefined, rest: string[], flags: ScriptFlags, command: Command) => {
        process.stdout.write(await script(job, rest, flags, command));
      })
      // A usage error reaches program.ts (exit 2), as from the other commands.
      .exitOverride(),
  );
  return slurm;
}

async function script(job: string | undefined, rest: string[], flags: ScriptFlags, command: Command): Promise<string> {
  // Unknown options (the run or agent flags) stay in the operands, in order.
  const words = [...(job === undefined ? [] : [job]), ...rest];
  if (command.args.length !== words.length) words.splice(0, words.length, ...command.args);
  const timeS = flags.time === undefined ? null : slurmTimeSeconds(flags.time);
  if (flags.time !== undefined && timeS === null) throw new UsageError(`--time ${quote(flags.time)} is not a Slurm time: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS`);
  if (flags.signalLead > MAX_SIGNAL_LEAD_S) throw new UsageError(`--signal-lead must be at most ${MAX_SIGNAL_LEAD_S} seconds (Slurm's limit), got ${flags.signalLead}`);
  if (timeS !== null && flags.signalLead >= timeS) throw new UsageError(`--signal-lead ${flags.signalLead} s must be shorter than --time ${flags.time} (${timeS} s): the signal would come before the job starts`);
  // How soon into an allocation the signal can come.
  const earliest = timeS === null ? Infinity : Math.max(0, timeS - flags.signalLead - SLURM_SIGNAL_EARLY_S);
  if (earliest < SIGNAL_AFTER_START_S) {
    note(
      `warning: Slurm may send the signal up to ${SLURM_SIGNAL_EARLY_S} s before --signal-lead asks: with --time ${flags.time} (${timeS} s) and --signal-lead ${flags.signalLead} s it can come ${earliest} s into an allocation, ` +
        `where one that reaches the batch shell before its first command ends the job unrequeued. Give --time at least ${flags.signalLead + SLURM_SIGNAL_EARLY_S + SIGNAL_AFTER_START_S} s, or a shorter --signal-lead`,
    );
  }
  const cwd = process.cwd();
  const common = {
    command: flags.command ?? [process.execPath, fileURLToPath(new URL('../cli.js', import.meta.url))].map(shellWord).join(' '),
    time: flags.time ?? null,
    leadS: flags.signalLead,
    cwd,
    sbatch: flags.sbatch,
  };
  if (flags.agent) {
    const parsed = await checkFlags(agentCommand(), ['agent', ...words], REFUSED_AGENT);
    if (parsed.sources.scheduler !== 'cli' && process.env.CR_SCHEDULER === undefined) {
      throw new UsageError('--agent needs --scheduler HOST:PORT: the cr scheduler, as the compute nodes reach it');
    }
    const drainTimeoutS = (parsed.opts.drainTimeout as number | undefined) ?? DEFAULT_DRAIN_TIMEOUT_S;
    const given = parsed.sources.drainTimeout === 'cli';
    if (given && drainTimeoutS > flags.signalLead) note(`warning: --drain-timeout ${drainTimeoutS} s is longer than --signal-lead ${flags.signalLead} s: jobs still checkpointing at the wall time are ended`);
    return pilotScript({
      ...common,
      jobName: flags.jobName ?? 'cr-agent',
      requeue: flags.requeue === true,
      agentArgs: words.map(shellWord).join(' '),
      drainTimeoutS: given ? null : flags.signalLead,
      slotsFromSlurm: parsed.sources.slots !== 'cli' && process.env.CR_SLOTS === undefined,
      workOnScratch: parsed.sources.work !== 'cli' && process.env.CR_WORK === undefined,
    });
  }
  if (words.length === 0 || words[0]!.startsWith('-')) throw new UsageError('name the job module first: cr-scheduler slurm script JOB.mjs [run flags], or give --agent for a pilot');
  const [file, ...runWords] = words as [string, ...string[]];
  if (!fs.existsSync(file)) throw new UsageError(`no job file at ${file}`);
  const parsed = await checkFlags(runCommand(() => false), ['run', file, ...runWords], REFUSED_RUN);
  const store = path.resolve(cwd, (parsed.opts.store as string | undefined) ?? DEFAULT_STORE);
  note(
    NODE_LOCAL.test(store)
      ? `warning: the store ${store} is node-local: the next allocation may run on another node and start over. Give --store on shared storage.`
      : `note: the job's images go to ${store}: it must be on storage every compute node mounts (the next allocation may run on another node).`,
  );
  return jobScript({
    ...common,
    jobName: flags.jobName ?? `cr-${path.basename(file).replace(/\.[cm]?[jt]s$/, '')}`,
    requeue: flags.requeue !== false,
    job: shellWord(file),
    runArgs: runWords.map(shellWord).join(' '),
  });
}

/** Parses `argv` with the real command (its action replaced), so bad flags get that command's own message. */
async function checkFlags(command: Command, argv: string[], refused: Map<string, string>): Promise<{ opts: Record<string, unknown>; sources: Record<string, string | undefined> }> {
  for (const word of argv) {
    const flag = word.split('=')[0]!;
    const why = refused.get(flag);
    if (why !== undefined) throw new UsageError(`${flag} cannot go into a Slurm script: ${why}`);
  }
  let message = '';
  command.exitOverride().configureOutput({ writeErr: (text) => (message += text), writeOut: () => undefined });
  command.action(() => undefined);
  try {
    await command.parseAsync(argv.slice(1), { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) throw new UsageError(`${argv[0]} flags: ${message.trim().replace(/^error: /, '') || err.message}`);
    throw err;
  }
  const opts = command.opts();
  const sources: Record<string, string | undefined> = {};
  for (const key of Object.keys(opts)) sources[key] = command.getOptionValueSource(key);
  return { opts, sources };
}

function note(text: string): void {
  process.stderr.write(`${text}\n`);
}
