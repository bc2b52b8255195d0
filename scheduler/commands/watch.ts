// Following one job until it ends: a progress bar on a terminal, a plain line per change
// otherwise; the job's log lines as they come. Used by `submit --watch` and `status --watch`.
import cliProgress from 'cli-progress';
import type { Cluster } from '../client.js';
import { toJson } from '../output.js';
import { printable } from '../escape.js';
import { errorMessage, jobJson, jobState, storedJson } from './common.js';

const POLL_MS = 300;

/** Returns the exit status: 0 succeeded, 1 failed or cancelled. */
export async function watchJob(cluster: Cluster, id: number, json: boolean): Promise<number> {
  const tty = !json && process.stderr.isTTY === true;
  const bar = tty
    ? new cliProgress.SingleBar({ format: `job ${id} [{bar}] {percentage}% | {state} {node} {message}`, hideCursor: true, clearOnComplete: true, stream: process.stderr }, cliProgress.Presets.shades_classic)
    : null;
  let after = 0;
  let lastLine = '';
  bar?.start(1, 0, { state: '', node: '', message: '' });
  const print = (text: string): void => {
    if (bar?.isActive) {
      process.stderr.write(`\r\x1b[2K${text}\n`);
      bar.render();
    } else {
      process.stderr.write(`${text}\n`);
    }
  };
  for (;;) {
    const logs = await cluster.call('GetLogs', { job: id, after });
    for (const line of logs.lines) {
      after = Math.max(after, line.id);
      if (!json) print(line.kind === 'log' ? printable(line.text) : `[scheduler] ${printable(line.text)}`);
    }
    const job = await cluster.call('GetJob', { job: id });
    if (bar) {
      bar.update(job.progress, { state: jobState(job), node: job.node ? `on ${printable(job.node)}` : '', message: printable(job.message) });
    } else if (!json) {
      const line = `job ${id}: ${jobState(job)}${job.node ? ` on ${printable(job.node)}` : ''}, ${(job.progress * 100).toFixed(0)}%${job.message ? ` ${printable(job.message)}` : ''}`;
      if (line !== lastLine) print(line);
      lastLine = line;
    }
    if (job.state === 'succeeded' || job.state === 'failed' || job.state === 'cancelled') {
      bar?.stop();
      if (json) process.stdout.write(`${toJson(jobJson(job))}\n`);
      else if (job.state === 'succeeded') process.stdout.write(`${job.resultJson ? toJson(storedJson(job.resultJson)) : 'null'}\n`);
      else process.stderr.write(`job ${id} ${job.state}${job.state === 'failed' ? `: ${errorMessage(job)}` : ''}\n`);
      return job.state === 'succeeded' ? 0 : 1;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
