// The messages between an agent and the process that runs one attempt of a job (job-process.ts),
// over the IPC channel Node opens between them. The job's process is told what to run and asked
// for checkpoints; it tells what happens, as the one-machine runner's events, and how it ended.
import type { RunEvent, RunOptions, RunOutcome } from '../../src/internal.js';

/** Agent → job process. `run` comes once, first. */
export type ToJob = { type: 'run'; options: RunOptions } | { type: 'checkpoint' } | { type: 'stop' };

/** Job process → agent. `outcome` comes once, last. */
export type FromJob = { type: 'event'; event: RunEvent } | { type: 'outcome'; outcome: RunOutcome };
