// The scheduler SIGKILLed and restarted while jobs run: its database keeps every job, running
// jobs keep running on their agents (which reconnect on their own), and none is lost or run
// twice to completion.
import test from 'ava';
import { runCli, uninterruptedResult } from '../runner/helpers.js';
import { bundleJob } from '../../scheduler/bundle.js';
import { CLUSTER_JOB, client, finished, job, startAgent, startScheduler, waitFor } from './helpers.js';

test('a scheduler killed with SIGKILL and restarted loses no job and runs none twice; list shows the same jobs.', async (t) => {
  const args = { steps: 300, stepMs: 15 };
  const expected = uninterruptedResult(CLUSTER_JOB, args);
  // A lease far longer than the agents can take to reconnect, however loaded the machine (no
  // agent dies here, so nothing waits for it to expire).
  const first = await startScheduler(t, { leaseS: 60 });
  for (const name of ['a', 'b', 'c']) await startAgent(t, first.address, name);
  const before = client(t, first.address);
  // Five jobs on three one-slot nodes, submitted at once (a `submit` process each would take
  // seconds on a loaded machine): some run while the scheduler dies, the others are queued.
  const code = await bundleJob(CLUSTER_JOB);
  const ids: number[] = [];
  for (let i = 0; i < 5; i++) ids.push((await before.call('Submit', { name: `job${i}`, code, argsJson: JSON.stringify(args), intervalMs: 300, retries: 3 })).id);
  // Killed while some jobs run (with images) and others wait in the queue.
  await waitFor('jobs running and queued', async () => {
    const { jobs } = await before.call('ListJobs', {});
    const running = jobs.filter((j) => j.state === 'running' && j.images > 0);
    return running.length >= 2 && jobs.some((j) => j.state === 'queued') ? true : undefined;
  });
  const listed = await runCli(t, ['list', ...first.args, '--json']);
  t.is(listed.code, 0, listed.stderr);
  first.cli.child.kill('SIGKILL');
  // Dead, its port closed: the new scheduler can listen on it at once.
  await first.cli.exit;

  const second = await startScheduler(t, { dataDir: first.dataDir, port: first.port, leaseS: 60 });
  const after = client(t, second.address);
  const relisted = await runCli(t, ['list', ...second.args, '--json']);
  const shape = (text: string) => (JSON.parse(text) as { id: number; name: string }[]).map((j) => ({ id: j.id, name: j.name }));
  t.deepEqual(shape(relisted.stdout), shape(listed.stdout));

  for (const id of ids) {
    const done = await finished(after, id);
    t.is(done.state, 'succeeded', `job ${id}: ${done.errorJson}`);
    t.deepEqual(JSON.parse(done.resultJson), await expected);
    const { lines } = await after.call('GetLogs', { job: id, after: 0 });
    t.is(lines.filter((l) => l.kind === 'event' && l.text.startsWith('succeeded')).length, 1, `job ${id} succeeded exactly once`);
  }
  // The running jobs kept their attempts: their agents reconnected within the lease.
  const attempts = await Promise.all(ids.map(async (id) => (await job(after, id)).attempt));
  t.deepEqual(attempts, [1, 1, 1, 1, 1]);
});
