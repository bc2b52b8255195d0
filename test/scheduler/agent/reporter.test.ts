// A job's log lines on their way to the scheduler: bounded per attempt while they wait, and
// when lines are dropped the job's log says how many and why — the job logged faster than the
// reports carry lines, or the scheduler was unreachable — against a real scheduler process.
import test from 'ava';
import { Reporter, MAX_BUFFERED_LINES } from '../../../scheduler/agent/reporter.js';
import { schedulerClient, unary, type SchedulerClient } from '../../../scheduler/proto/load.js';
import { client, createToken, startScheduler, waitFor, type SchedulerProcess } from '../helpers.js';
import type { Cluster } from '../../../scheduler/client.js';

/** A job running as attempt 1 on node n1, whose agent is this test (a Connect stream it holds). */
async function runningJob(t: Parameters<typeof client>[0], scheduler: SchedulerProcess): Promise<{ agent: SchedulerClient; cluster: Cluster; id: number; secret: string }> {
  const cluster = client(t, scheduler.address);
  const agent = schedulerClient(scheduler.address, { token: await createToken(scheduler.address, 'agent') });
  t.teardown(() => agent.close());
  const stream = agent.Connect({ node: 'n1', slots: 1, running: [], version: 'test' });
  stream.on('error', () => undefined);
  let secret = '';
  stream.on('data', (c: { command?: string; assign?: { secret: string } }) => {
    if (c.command === 'assign') secret = c.assign!.secret;
  });
  t.teardown(() => stream.cancel());
  const id = (await cluster.call('Submit', { name: 'loud', code: Buffer.from('export default async () => 1'), argsJson: '{}' })).id;
  await waitFor('the job to run on n1', async () => ((await cluster.call('GetJob', { job: id })).state === 'running' && secret !== '' ? true : undefined));
  return { agent, cluster, id, secret };
}

async function allLines(cluster: Cluster, id: number): Promise<string[]> {
  const texts: string[] = [];
  for (let after = 0; ; ) {
    const { lines } = await cluster.call('GetLogs', { job: id, after });
    if (lines.length === 0) return texts;
    texts.push(...lines.filter((l) => l.kind === 'log').map((l) => l.text));
    after = lines.at(-1)!.id;
  }
}

test('A job that logs faster than reports go out loses its oldest lines past the bound, and its log says how many and that it logged too fast.', async (t) => {
  const scheduler = await startScheduler(t, { leaseS: 120 });
  const { agent, cluster, id, secret } = await runningJob(t, scheduler);
  let stale = false;
  const reporter = new Reporter(agent, id, 1, secret, () => (stale = true));
  t.teardown(() => reporter.close());
  const total = MAX_BUFFERED_LINES + 2500;
  for (let i = 0; i < total; i++) reporter.log(`line ${i}`);
  await reporter.flush();
  t.false(stale);
  const lines = await allLines(cluster, id);
  t.deepEqual(lines[0], `[cr] 2500 log lines dropped: the job logged faster than they could be sent (at most ${MAX_BUFFERED_LINES} wait per job)`);
  t.is(lines.length, MAX_BUFFERED_LINES + 1);
  t.is(lines[1], 'line 2500');
  t.is(lines.at(-1), `line ${total - 1}`);
  t.false(lines.some((l) => /unreachable/.test(l)));
});

test('Lines dropped while the scheduler was down are reported, once it is back, as dropped while it was unreachable.', async (t) => {
  const first = await startScheduler(t, { leaseS: 120 });
  const { agent, id, secret } = await runningJob(t, first);
  const reporter = new Reporter(agent, id, 1, secret, () => undefined);
  t.teardown(() => reporter.close());
  first.cli.child.kill('SIGKILL');
  await first.cli.exit;
  reporter.log('before');
  await reporter.flush(); // fails: the scheduler is down; the line waits
  await t.throwsAsync(unary(agent, 'Heartbeat', { node: 'n1', session: 'x' }, 2000));
  for (let i = 0; i < MAX_BUFFERED_LINES; i++) reporter.log(`line ${i}`);
  const second = await startScheduler(t, { dataDir: first.dataDir, port: first.port, leaseS: 120 });
  const cluster = client(t, second.address);
  await waitFor('the report to go through', async () => {
    await reporter.flush();
    return (await cluster.call('GetLogs', { job: id, after: 0 })).lines.some((l) => l.kind === 'log') ? true : undefined;
  });
  await reporter.flush();
  const lines = await allLines(cluster, id);
  t.is(lines[0], `[cr] 1 log line dropped while the scheduler was unreachable (at most ${MAX_BUFFERED_LINES} wait per job)`);
  t.is(lines[1], 'line 0');
  t.is(lines.length, MAX_BUFFERED_LINES + 1);
});
