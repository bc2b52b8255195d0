// Signals and exit codes as batch systems see them. Slurm (`sbatch --signal=B:USR1@120`) and
// Kubernetes (SIGTERM, then SIGKILL after the grace period) warn a job with a signal before
// they end it; a batch script then needs the exit code to tell "stopped after a checkpoint,
// run me again" from success and from failure.
import { InvalidArgumentError } from 'commander';
import { quote } from './options.js';
import { UsageError } from './output.js';

/**
 * The exit code of a job that stopped cleanly after a checkpoint and resumes when run again:
 * EX_TEMPFAIL of sysexits.h ("temporary failure; the user is invited to retry"), the code mail
 * and batch tools already read as "try again later". Neither 0 (a script would take the job as
 * done) nor 1 (it would take it as failed).
 */
export const EXIT_STOPPED = 75;
/** A second stop signal: stopped at once, no checkpoint (128 + SIGINT, as shells report Ctrl-C). */
export const EXIT_STOPPED_AT_ONCE = 130;

/** Signals a user may name for `--stop-signal` and `--checkpoint-signal`. */
export const NAMED_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGUSR1', 'SIGUSR2', 'SIGHUP'] as const;
export type NamedSignal = (typeof NAMED_SIGNALS)[number];
/** Always mean "checkpoint and stop", whatever --stop-signal adds: Ctrl-C, and what every batch system sends last. */
export const ALWAYS_STOP: readonly NamedSignal[] = ['SIGTERM', 'SIGINT'];

/** `USR1`, `SIGUSR1` or `sigusr1` → `SIGUSR1`; anything else is a usage error naming the choices. */
export function parseSignal(what: string) {
  return (value: string): NamedSignal => {
    const upper = value.trim().toUpperCase();
    const name = (upper.startsWith('SIG') ? upper : `SIG${upper}`) as NamedSignal;
    if (!NAMED_SIGNALS.includes(name)) throw new InvalidArgumentError(`${what} must be one of ${NAMED_SIGNALS.join(', ')} (with or without "SIG"), got ${quote(value)}`);
    return name;
  };
}

export interface SignalPlan {
  /** Each means: checkpoint at the next safe point and stop; a second one stops at once. */
  stop: readonly NamedSignal[];
  /** Means: checkpoint at the next safe point and go on; null: none. */
  checkpoint: NamedSignal | null;
}

/** The signals of `run`: SIGTERM and SIGINT always stop, plus `stopSignal`; the checkpoint signal must be another. */
export function signalPlan(stopSignal: NamedSignal, checkpointSignal: NamedSignal | null): SignalPlan {
  const stop = [...new Set([...ALWAYS_STOP, stopSignal])];
  if (checkpointSignal !== null && stop.includes(checkpointSignal)) {
    throw new UsageError(`--checkpoint-signal ${checkpointSignal} already means "checkpoint and stop" (${stop.join(', ')}): pick another, e.g. SIGUSR2`);
  }
  return { stop, checkpoint: checkpointSignal };
}

/** Installs the plan's handlers; returns the function that removes them. */
export function onSignals(plan: SignalPlan, handlers: { stop: (signal: NamedSignal, count: number) => void; checkpoint: (signal: NamedSignal) => void }): () => void {
  let stops = 0;
  const stop = (signal: NodeJS.Signals): void => handlers.stop(signal as NamedSignal, ++stops);
  const checkpoint = (signal: NodeJS.Signals): void => handlers.checkpoint(signal as NamedSignal);
  for (const s of plan.stop) process.on(s, stop);
  if (plan.checkpoint) process.on(plan.checkpoint, checkpoint);
  return () => {
    for (const s of plan.stop) process.off(s, stop);
    if (plan.checkpoint) process.off(plan.checkpoint, checkpoint);
  };
}
