// Following one job until it ends: a progress bar on a terminal, in a pipe a timestamped line per
// change of state or node and a progress line at most once a minute (progress.ts); the job's log
// lines as they come. Used by `submit --watch` and `status --watch`.
import type { Cluster } from '../client.js';
import { toJson } from '../output.js';
import { printable } from '../escape.js';
import { ProgressScreen, screenMode } from '../progress.js';
import { errorMessage, jobJson, jobState, storedJson } from './common.js';

const POLL_MS = 300;

/** Returns the exit status: 0 succeeded, 1 failed or cancelled. */
export async function watchJob(cluster: Cluster, id: number, json: boolean): Promise<number> {
  const screen = new ProgressScreen({ mode: json ? 'quiet' : screenMode({}), label: `job ${id}` });
  let after = 0;
  let lastState = '';
  try {
    const printLogs = async (): Promise<void> => {
      const logs = await cluster.call('GetLogs', { job: id, after });
      for (const line of logs.lines) {
        after = Math.max(after, line.id);
        if (!json) screen.log(line.kind === 'log' ? printable(line.text) : `[scheduler] ${printable(line.text)}`);
      }
    };
    for (;;) {
      await printLogs();
      const job = await cluster.call('GetJob', { job: id });
      const state = `${jobState(job)}${job.node ? ` on ${printable(job.node)}` : ''}`;
      if (state !== lastState) screen.report(`job ${id}: ${state}`);
      lastState = state;
      screen.progress(job.progress, `${state}${job.message ? ` ${printable(job.message)}` : ''}`);
      if (job.state === 'succeeded' || job.state === 'failed' || job.state === 'cancelled') {
        // The lines logged between the last look and the end (the scheduler's "succeeded").
        await printLogs();
        screen.stop();
        if (json) process.stdout.write(`${toJson(jobJson(job))}\n`);
        else if (job.state === 'succeeded') process.stdout.write(`${job.resultJson ? toJson(storedJson(job.resultJson)) : 'null'}\n`);
        else process.stderr.write(`job ${id} ${job.state === 'failed' ? `failed: ${errorMessage(job)}` : 'was cancelled'}\n`);
        return job.state === 'succeeded' ? 0 : 1;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    screen.stop();
  }
}
