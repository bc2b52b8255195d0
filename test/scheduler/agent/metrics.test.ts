// An agent's own /metrics (`agent --metrics`): a real scheduler and agent as processes; the
// agent's counters are checked against the images the scheduler stored from it, and its
// reconnect counter against a scheduler SIGKILLed and restarted on the same port; its count of
// checkpoints that could not be written against a job that fills the node's disk (a small tmpfs).
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { FIXTURES, mountSmallFs, runCli, unmount } from '../../runner/helpers.js';
import { CLUSTER_JOB, client, finished, startAgent, startScheduler, submit, waitFor } from '../helpers.js';
import { parsePrometheusText, valueOf, type Family } from '../http/prometheus-text.js';

async function scrape(url: string, token?: string): Promise<Map<string, Family>> {
  const response = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status}`);
  return parsePrometheusText(await response.text());
}

test("an agent's /metrics counts its running attempts, its jobs' checkpoints with their pauses, the bytes it uploaded, and its reconnections after the scheduler was SIGKILLed", async (t) => {
  const first = await startScheduler(t, { leaseS: 60 });
  const agent = await startAgent(t, first.address, 'm', 1, ['--metrics', '127.0.0.1:0']);
  const url = (await agent.waitForStderr(/serving metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/))[1]!;
  const idle = await scrape(url);
  t.is(valueOf(idle, 'cr_agent_attempts_running'), 0);
  t.is(valueOf(idle, 'cr_agent_checkpoints_total'), 0);
  t.is(valueOf(idle, 'cr_agent_reconnects_total'), 0);
  t.true(idle.has('process_resident_memory_bytes'), "prom-client's process metrics are served");

  const id = await submit(t, first.address, CLUSTER_JOB, { steps: 60, stepMs: 5 }, ['--interval', '0.1']);
  const cluster = client(t, first.address);
  const done = await finished(cluster, id);
  t.is(done.state, 'succeeded', done.errorJson);
  const after = await scrape(url);
  const { images } = await cluster.call('ListImages', { job: id });
  const { lines } = await cluster.call('GetLogs', { job: id, after: 0 });
  const stored = lines.map((l) => /^image (\d+) stored \((\d+) bytes/.exec(l.text)).filter((m) => m !== null);
  t.true(stored.length >= 1, 'the job stored images');
  t.true(images.length >= 1);
  t.is(valueOf(after, 'cr_agent_attempts_running'), 0);
  t.is(valueOf(after, 'cr_agent_checkpoints_total'), stored.length, 'every image the job committed here was stored');
  t.is(valueOf(after, 'cr_agent_checkpoint_pause_seconds_count'), stored.length);
  t.is(valueOf(after, 'cr_agent_checkpoint_commit_seconds_count'), stored.length);
  t.is(valueOf(after, 'cr_agent_upload_bytes_total'), stored.reduce((sum, m) => sum + Number(m[2]), 0));
  t.is(valueOf(after, 'cr_agent_upload_duration_seconds_count'), stored.length);
  t.is(valueOf(after, 'cr_agent_checkpoint_upload_failures_total'), 0);
  t.is(valueOf(after, 'cr_agent_download_bytes_total'), 0, 'a first attempt restores nothing');

  // The scheduler dies and comes back on the same port: the agent registers again, once.
  first.cli.child.kill('SIGKILL');
  await first.cli.exit;
  const second = await startScheduler(t, { dataDir: first.dataDir, port: first.port, leaseS: 60 });
  await agent.waitUntil(() => (agent.stderr.match(/registered with the scheduler/g) ?? []).length >= 2, 'the agent to register again');
  const reconnected = await waitFor('the reconnect counted', async () => {
    const m = await scrape(url);
    return valueOf(m, 'cr_agent_reconnects_total') >= 1 ? m : undefined;
  });
  t.is(valueOf(reconnected, 'cr_agent_reconnects_total'), 1);
  t.is((await cluster.call('ListNodes', {})).nodes.length, 1, second.address);
});

test('agent --metrics with a value that is not HOST:PORT is refused before the agent starts, naming the flag', async (t) => {
  const run = await runCli(t, ['agent', '--scheduler', '127.0.0.1:1', '--metrics', 'localhost:http']);
  t.is(run.code, 2, 'a usage error');
  t.regex(run.stderr, /--metrics must be HOST:PORT, \[IPv6\]:PORT or a PORT \(on 127\.0\.0\.1\), got "localhost:http"/);
  t.notRegex(run.stderr, /^\s+at /m);
});

const MiB = 1024 * 1024;
const probe = mountSmallFs(MiB);
if ('dir' in probe) unmount(probe.dir);
else console.log(`agent metrics: the full-disk test is skipped: mounting a small tmpfs was refused (${probe.reason})`);

('dir' in probe ? test : test.skip)("checkpoints a job cannot write on its node's full disk are counted by the agent (cr_agent_checkpoint_write_failures_total) and by the scheduler (cr_checkpoints_failed_total{stage=\"write\"}), and the job goes on to succeed", async (t) => {
  const mounted = mountSmallFs(8 * MiB);
  if (!('dir' in mounted)) return t.fail(mounted.reason);
  t.teardown(() => unmount(mounted.dir));
  const scheduler = await startScheduler(t, { extra: ['--http', '127.0.0.1:0'] });
  let m: RegExpExecArray | null = null;
  await scheduler.cli.waitUntil(() => (m = /dashboard on (http\S+)\n/.exec(scheduler.cli.stdout)) !== null, 'the dashboard to listen');
  const schedulerMetrics = new URL('/metrics', (m as unknown as RegExpExecArray)[1]!).href;
  const token = fs.readFileSync(scheduler.tokenFile, 'utf8').trim();
  t.is(valueOf(await scrape(schedulerMetrics, token), 'cr_checkpoints_failed_total', { stage: 'write' }), 0);
  // The agent's work directory, where its jobs write their images, is on the small disk.
  const agent = await startAgent(t, scheduler.address, 'full', 1, ['--metrics', '127.0.0.1:0', '--work', path.join(mounted.dir, 'work')]);
  const url = (await agent.waitForStderr(/serving metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/))[1]!;
  t.is(valueOf(await scrape(url), 'cr_agent_checkpoint_write_failures_total'), 0);

  // Filled at step 10 and freed at step 20; a forced checkpoint at every step.
  const args = { steps: 30, fillAt: 10, freeAt: 20, filler: path.join(mounted.dir, 'filler'), force: true };
  const id = await submit(t, scheduler.address, path.join(FIXTURES, 'disk-filler-job.mjs'), args, ['--interval', '3600', '--retries', '0']);
  const cluster = client(t, scheduler.address);
  const done = await finished(cluster, id);
  t.is(done.state, 'succeeded', done.errorJson);
  const { lines } = await cluster.call('GetLogs', { job: id, after: 0 });
  t.true(lines.some((l) => /^\[cr\] warning: checkpoint \S+ of job "\S+" failed: the disk is full \(ENOSPC\)/.test(l.text)), 'the job was warned');
  const failed = valueOf(await scrape(url), 'cr_agent_checkpoint_write_failures_total');
  t.true(failed >= 1, 'the agent counted the failed checkpoints');
  // The last report carries them: the scheduler's count reaches the agent's.
  await waitFor('the scheduler to count them', async () => (valueOf(await scrape(schedulerMetrics, token), 'cr_checkpoints_failed_total', { stage: 'write' }) === failed ? true : undefined));
  t.is(valueOf(await scrape(schedulerMetrics, token), 'cr_checkpoints_failed_total', { stage: 'upload' }), 0);
});
