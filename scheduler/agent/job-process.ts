// The process that runs one attempt of a job for an agent (job-host.ts starts it): the
// one-machine runner, as `cr-scheduler run` uses it, in a process of its own, so that the job's
// code shares no memory, environment or file descriptors with the agent and its credentials, and
// may run under another uid (`agent --run-as`).
//
// It is the leader of its own process group. When the agent goes away (its IPC channel closes:
// the agent exited or was killed with SIGKILL) it kills its whole group at once, so that no job
// outlives its agent and runs on unseen beside the attempt the scheduler starts elsewhere.
import { JobRunner, type RunOutcome, toErrorRecord } from '../../src/internal.js';
import type { FromJob, ToJob } from './job-messages.js';

let runner: JobRunner | null = null;
let ended = false;

function send(message: FromJob, then?: () => void): void {
  process.send!(message, undefined, {}, () => then?.());
}

function killGroup(): void {
  try {
    process.kill(-process.pid, 'SIGKILL');
  } finally {
    process.kill(process.pid, 'SIGKILL');
  }
}

if (typeof process.send !== 'function') {
  process.stderr.write('job-process: started without an IPC channel; it is started by "cr-scheduler agent", not by hand\n');
  process.exit(2);
}

process.on('disconnect', () => {
  if (!ended) killGroup();
});

// A batch system or a container runtime may signal every process of the node's job (Slurm's
// proctrack, a process-group kill): the agent drains, asking this process to stop at its next
// safe point, and ends it if it must. Its own default would end the job without a checkpoint.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => undefined);

process.on('message', (message: ToJob) => {
  switch (message.type) {
    case 'run':
      if (runner !== null) return;
      runner = new JobRunner(message.options);
      runner.on((event) => send({ type: 'event', event }));
      void runner.run().then(
        (outcome) => finish(outcome),
        (err: unknown) => finish({ status: 'failed', error: toErrorRecord(err), attempts: 1 }),
      );
      break;
    case 'checkpoint':
      runner?.requestCheckpoint();
      break;
    case 'stop':
      runner?.requestStop();
      break;
    default:
      break;
  }
});

function finish(outcome: RunOutcome): void {
  send({ type: 'outcome', outcome }, () => {
    ended = true;
    process.disconnect();
  });
}
