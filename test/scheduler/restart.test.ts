// The scheduler SIGKILLed and restarted while jobs run: its database keeps every job, running
// jobs keep running on their agents (which reconnect on their own), and none is lost or run
// twice to completion.
import test from 'ava';
import { runCli, sleep, uninterruptedResult } from '../runner/helpers.js';
import { CLUSTER_JOB, client, finished, job, startAgent, startScheduler, submit, waitFor } from './helpers.js';

test('a scheduler killed with SIGKILL and restarted loses no job and runs none twice; list shows the same jobs.', async (t) => {
  const args = { steps: 200, stepMs: 15 };
  const expected = uninterruptedResult(CLUSTER_JOB, args);
  const first = await startScheduler(t);
  for (const name of ['a', 'b', 'c']) await startAgent(t, first.address, name);
  const ids: number[] = [];
  // Five jobs on three one-slot nodes: three run while the scheduler dies, two are queued.
  for (let i = 0; i < 5; i++) ids.push(await submit(t, first.address, CLUSTER_JOB, args, ['--interval', '0.3', '--name', `job${i}`]));
  const before = client(t, first.address);
  await waitFor('three jobs running', async () => {
    const { jobs } = await before.call('ListJobs', { states: ['running'] });
    return jobs.length === 3 && jobs.every((j) => j.progress > 0.1) ? true : undefined;
  });
  const listed = await runCli(t, ['list', '--scheduler', first.address, '--json']);
  t.is(listed.code, 0, listed.stderr);
  first.cli.child.kill('SIGKILL');
  await first.cli.exit;
  await sleep(500);

  const second = await startScheduler(t, { dataDir: first.dataDir, port: first.port });
  const after = client(t, second.address);
  const relisted = await runCli(t, ['list', '--scheduler', second.address, '--json']);
  const shape = (text: string) => (JSON.parse(text) as { id: number; name: string }[]).map((j) => ({ id: j.id, name: j.name }));
  t.deepEqual(shape(relisted.stdout), shape(listed.stdout));

  for (const id of ids) {
    const done = await finished(after, id);
    t.is(done.state, 'succeeded', `job ${id}: ${done.errorJson}`);
    t.deepEqual(JSON.parse(done.resultJson), await expected);
    const { lines } = await after.call('GetLogs', { job: id, after: 0 });
    t.is(lines.filter((l) => l.kind === 'event' && l.text.startsWith('succeeded')).length, 1, `job ${id} succeeded exactly once`);
  }
  // The three running jobs kept their attempts: their agents reconnected within the lease.
  const attempts = await Promise.all(ids.map(async (id) => (await job(after, id)).attempt));
  if (attempts.some((a) => a !== 1)) {
    for (const id of ids) t.log((await after.call('GetLogs', { job: id, after: 0 })).lines.map((l) => `${id} ${l.attempt} ${l.text}`).join('\n'));
    t.log(second.cli.stderr);
  }
  t.deepEqual(attempts, [1, 1, 1, 1, 1]);
});
