// The sbatch scripts of `cr-scheduler slurm script`: one job per allocation (checkpoint ahead of
// the wall time, requeue, resume) or a pilot agent (drain ahead of the wall time). Pure text:
// the command (commands/slurm.ts) checks the flags, this file only writes them down.
//
// Slurm sends `--signal=B:USR1@LEAD` to the batch shell alone ("B:"), so the script passes it
// on to cr, as SIGTERM: cr (run, or agent) takes that as "checkpoint or drain, then stop", and a
// USR1 that reached Node before cr listened would open Node's inspector and be lost (it did:
// Slurm sent one as a requeued job started), where a TERM ends cr and the job requeues.
//
// The script does not trap SIGTERM: at the wall time or on scancel Slurm sends SIGTERM to every
// process of the job, cr included, and the shell should die with it then (no requeue of a
// cancelled job), while cr uses KillWait to finish what it can.
import { EXIT_STOPPED } from '../signals.js';
import { VERSION } from '../../src/internal.js';

/** Slurm's largest --signal lead time, seconds (a 16-bit field). */
export const MAX_SIGNAL_LEAD_S = 65_535;
/**
 * How much earlier than its lead Slurm may send --signal ("up to 60 seconds", sbatch(1)): it
 * checks time limits about every 30 s. A wall time within this of the lead can bring the signal
 * as the job starts.
 */
export const SLURM_SIGNAL_EARLY_S = 60;
/** The least time after a start the signal should leave: the batch shell dies of a USR1 that comes before its first command traps it. */
export const SIGNAL_AFTER_START_S = 10;
/** Slurm's own default lead when --signal has no @: 60 s. cr's default leaves room for a checkpoint and the upload of its image. */
export const DEFAULT_SIGNAL_LEAD_S = 180;

export interface SlurmScriptOptions {
  /** The shell words that run cr-scheduler on a compute node, already quoted. */
  command: string;
  /** sbatch --job-name. */
  jobName: string;
  /** sbatch --time as the user wrote it; null: the partition's default. */
  time: string | null;
  leadS: number;
  /** Requeue the Slurm job after a clean stop (job: exit 75; pilot: a drain), to resume in a new allocation. */
  requeue: boolean;
  /** The directory the job runs in (sbatch --chdir): relative paths in the flags mean the same as where the script was made. */
  cwd: string;
  /** More `#SBATCH` options, each one word such as `--partition=long`. */
  sbatch: readonly string[];
}

export interface JobScriptOptions extends SlurmScriptOptions {
  /** `run`'s arguments after the job file: checked by `run`'s own parser, already quoted. */
  runArgs: string;
  /** The job file, quoted. */
  job: string;
}

export interface PilotScriptOptions extends SlurmScriptOptions {
  /** `agent`'s arguments, checked by `agent`'s own parser, already quoted. */
  agentArgs: string;
  /** --drain-timeout to pass; null: the user's flags have one. */
  drainTimeoutS: number | null;
  /** Pass --slots from the allocation's CPUs (the user gave none). */
  slotsFromSlurm: boolean;
  /** Pass --work on node-local scratch (the user gave none). */
  workOnScratch: boolean;
}

/** One shell word: single-quoted, with any single quote inside closed, escaped and reopened. */
export function shellWord(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

/**
 * The script's first commands: its signal traps, before anything else runs. A USR1 (or USR2)
 * that reached the shell before its trap would end the whole job, unrequeued; Slurm has sent
 * one 0.1 s into a requeued job, whose one-minute wall time was within a minute of its lead
 * (SLURM_SIGNAL_EARLY_S; commands/slurm.ts warns of that). One that comes before cr is
 * started is remembered (`early`) and passed on once it is (runAndForward).
 */
function traps(checkpointOnUsr2: boolean): string[] {
  return [
    'signalled=0; early=0; pid=',
    `trap 'signalled=1; if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null; else early=1; fi' USR1`,
    ...(checkpointOnUsr2 ? [`trap 'signalled=1; [ -n "$pid" ] && kill -USR2 "$pid" 2>/dev/null' USR2`] : []),
  ];
}

function header(o: SlurmScriptOptions, what: string, output: string, first: string[]): string[] {
  return [
    '#!/bin/bash',
    `# Made by "cr-scheduler slurm script" (cr ${VERSION}): ${what}`,
    `#SBATCH --job-name=${shellWord(o.jobName)}`,
    ...(o.time !== null ? [`#SBATCH --time=${o.time}`] : []),
    `#SBATCH --signal=B:USR1@${o.leadS}`,
    ...(o.requeue ? ['#SBATCH --requeue'] : []),
    // A requeued job keeps its id: every allocation's lines go to the one log, in order.
    '#SBATCH --open-mode=append',
    `#SBATCH --output=${output}`,
    `#SBATCH --chdir=${shellWord(o.cwd)}`,
    ...o.sbatch.map((s) => `#SBATCH ${s}`),
    ...first,
    'set -u',
    'attempt=$(( ${SLURM_RESTART_COUNT:-0} + 1 ))',
    // The host's short name and the time from bash itself: a command substitution ($(…)) that a
    // trapped signal interrupts can leave bash unable to run the trap (a parse error, no trap).
    'host="${HOSTNAME%%.*}"',
    "TZ=UTC printf -v now '%(%Y-%m-%dT%H:%M:%SZ)T' -1",
  ];
}

/** Starts cr in the background, passes USR1 on as TERM (traps), waits for it; `$status` is its exit code. */
function runAndForward(commandLine: string): string[] {
  return [
    `${commandLine} &`,
    'pid=$!',
    'if [ "$early" -eq 1 ]; then kill -TERM "$pid" 2>/dev/null; fi',
    'while :; do',
    '  wait "$pid"; status=$?',
    '  # A trapped signal ends `wait` early (status > 128) while cr still runs: wait again.',
    '  if [ "$status" -gt 128 ] && kill -0 "$pid" 2>/dev/null; then continue; fi',
    '  break',
    'done',
  ];
}

/**
 * One job per allocation: `cr-scheduler run`, which checkpoints and exits 75 on the USR1 passed on; the script
 * requeues on 75. USR2 (`scancel --batch --signal=USR2 JOB`) asks for a checkpoint and goes on.
 */
export function jobScript(o: JobScriptOptions): string {
  const lines = [
    ...header(o, `runs ${o.job} with "cr-scheduler run"; ${o.leadS} s before the wall time Slurm sends USR1, cr checkpoints and stops (exit ${EXIT_STOPPED}), ${o.requeue ? 'and the job requeues itself to resume from that image' : 'and the job ends (submit it again to resume)'}.`, 'cr-%x-%j.out', traps(true)),
    'echo "[cr] slurm job ${SLURM_JOB_ID} attempt ${attempt} (SLURM_RESTART_COUNT=${SLURM_RESTART_COUNT:-0}) on ${host} at ${now}"',
    ...runAndForward(`${o.command} run ${o.job} ${o.runArgs}${o.runArgs ? ' ' : ''}--stop-signal SIGUSR1 --checkpoint-signal SIGUSR2 --no-progress`),
    `if [ "$status" -eq ${EXIT_STOPPED} ]; then`,
    ...(o.requeue
      ? [
          '  echo "[cr] checkpointed and stopped ahead of the wall time: requeueing slurm job ${SLURM_JOB_ID} to resume from that image"',
          '  scontrol requeue "$SLURM_JOB_ID"',
        ]
      : ['  echo "[cr] checkpointed and stopped ahead of the wall time: submit this script again to resume from that image"']),
    // cr died of a signal the script passed on: it came before cr was listening for it (Slurm
    // sends it up to a minute early: with a short wall time, as the job starts); the job resumes
    // from its latest image all the same.
    'elif [ "$signalled" -eq 1 ] && [ "$status" -gt 128 ]; then',
    ...(o.requeue
      ? [
          '  echo "[cr] the signal came before cr was listening for it: requeueing slurm job ${SLURM_JOB_ID} to resume from its latest image"',
          '  scontrol requeue "$SLURM_JOB_ID"',
        ]
      : ['  echo "[cr] the signal came before cr was listening for it: submit this script again to resume from its latest image"']),
    'fi',
    'exit "$status"',
  ];
  return `${lines.join('\n')}\n`;
}

/** A pilot: `cr-scheduler agent` for the allocation's length; USR1 drains it (as SIGTERM does) and it exits 0. */
export function pilotScript(o: PilotScriptOptions): string {
  const args = [
    '--name "${host}-slurm${SLURM_JOB_ID}"',
    ...(o.slotsFromSlurm ? ['--slots "${SLURM_CPUS_ON_NODE:-1}"'] : []),
    ...(o.workOnScratch ? ['--work "$work"'] : []),
    ...(o.drainTimeoutS !== null ? [`--drain-timeout ${o.drainTimeoutS}`] : []),
    ...(o.agentArgs ? [o.agentArgs] : []),
  ];
  const lines = [
    ...header(o, `a pilot: runs a cr agent in this allocation; ${o.leadS} s before the wall time Slurm sends USR1 and the agent drains (its jobs checkpoint and move to other agents), then exits.`, 'cr-%x-%j.out', traps(false)),
    // A fresh private directory: another pilot with the same job id (another cluster on this
    // host, a job id reused) must not share it, nor delete it when it ends.
    ...(o.workOnScratch ? ['work="$(mktemp -d "${TMPDIR:-/tmp}/cr-agent-${SLURM_JOB_ID}.XXXXXX")" || exit 1'] : []),
    'echo "[cr] pilot: slurm job ${SLURM_JOB_ID} attempt ${attempt} on ${host}, node ${host}-slurm${SLURM_JOB_ID}, at ${now}"',
    ...runAndForward(`${o.command} agent ${args.join(' ')}`),
    ...(o.workOnScratch ? ['rm -rf "$work"'] : []),
    'echo "[cr] pilot: the agent exited with status $status"',
    ...(o.requeue ? ['if [ "$status" -eq 0 ] && [ "$signalled" -eq 1 ]; then', '  echo "[cr] pilot: drained ahead of the wall time: requeueing slurm job ${SLURM_JOB_ID}"', '  scontrol requeue "$SLURM_JOB_ID"', 'fi'] : []),
    'exit "$status"',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Slurm's --time: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS → seconds; UNLIMITED or
 * INFINITE → Infinity; null when it is none of these.
 */
export function slurmTimeSeconds(text: string): number | null {
  const t = text.trim();
  if (/^(UNLIMITED|INFINITE)$/i.test(t)) return Infinity;
  const day = /^(\d+)-(\d+)(?::(\d+))?(?::(\d+))?$/.exec(t);
  if (day) return Number(day[1]) * 86_400 + Number(day[2]) * 3600 + Number(day[3] ?? 0) * 60 + Number(day[4] ?? 0);
  const parts = /^(\d+)(?::(\d+))?(?::(\d+))?$/.exec(t);
  if (!parts) return null;
  if (parts[3] !== undefined) return Number(parts[1]) * 3600 + Number(parts[2]) * 60 + Number(parts[3]);
  if (parts[2] !== undefined) return Number(parts[1]) * 60 + Number(parts[2]);
  return Number(parts[1]) * 60;
}
