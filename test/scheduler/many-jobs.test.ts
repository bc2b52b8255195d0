// 200 small jobs across three agents: all finish, each exactly once.
import test from 'ava';
import { bundleJob } from '../../scheduler/bundle.js';
import { CLUSTER_JOB, client, STEADY_LEASE_S, startAgent, startScheduler, waitFor } from './helpers.js';
import { HANG_GUARD_MS } from '../hang-guard.js';

test('200 small jobs across three agents all finish, each exactly once.', async (t) => {
  // No node dies here: a 3 s lease ran out under load with two suites side by side, and a job
  // moved and ran twice.
  const scheduler = await startScheduler(t, { leaseS: STEADY_LEASE_S });
  for (const name of ['a', 'b', 'c']) await startAgent(t, scheduler.address, name, 2);
  const cluster = client(t, scheduler.address);
  const code = await bundleJob(CLUSTER_JOB);
  const ids: number[] = [];
  for (let i = 0; i < 200; i++) {
    const job = await cluster.call('Submit', { name: `tiny${i}`, code, argsJson: JSON.stringify({ steps: 3 + (i % 5), length: 256, stepMs: 0 }), retries: 0 });
    ids.push(job.id);
  }
  const jobs = await waitFor('all 200 jobs to end', async () => {
    const { jobs } = await cluster.call('ListJobs', {});
    return jobs.every((j) => j.state !== 'queued' && j.state !== 'running') ? jobs : undefined;
  }, HANG_GUARD_MS, 500);
  t.is(jobs.length, 200);
  t.deepEqual(jobs.filter((j) => j.state !== 'succeeded').map((j) => `${j.id}: ${j.state} ${j.errorJson}`), []);
  t.true(jobs.every((j) => j.attempt === 1), 'each ran once');
  for (const j of jobs) t.is((JSON.parse(j.resultJson) as { steps: number }).steps, 3 + ((j.id - ids[0]!) % 5));
  const { nodes } = await cluster.call('ListNodes', {});
  t.is(nodes.length, 3);
});
