// Drain: the node's job checkpoints at its next safe point, stops, and resumes on another node
// from that image; the drained node takes no new work.
import test from 'ava';
import { runCli, uninterruptedResult } from '../runner/helpers.js';
import { CLUSTER_JOB, client, finished, job, STEADY_LEASE_S, startAgent, startScheduler, submit, underWay, waitFor } from './helpers.js';

test('drain moves a running job to another node through a checkpoint, and the node takes no new work.', async (t) => {
  // The first attempt holds at step 100 until it is drained: the drain finds it running however slow the machine.
  const args = { steps: 300, stepMs: 15, holdAt: 100 };
  const expected = uninterruptedResult(CLUSTER_JOB, { steps: 300, stepMs: 0 }); // holding changes no result
  // No node dies here: the job moves by the drain alone, never by a lease that ran out under load.
  const scheduler = await startScheduler(t, { leaseS: STEADY_LEASE_S });
  for (const name of ['a', 'b']) await startAgent(t, scheduler.address, name);
  const cluster = client(t, scheduler.address);
  // An interval far beyond the run: the only image is the one the drain asks for.
  const id = await submit(t, scheduler.address, CLUSTER_JOB, args, ['--interval', '3600']);
  const first = await underWay(cluster, id, 0.33);
  t.is(first.images, 0);
  const drain = await runCli(t, ['drain', first.node, ...scheduler.args]);
  t.is(drain.code, 0, drain.stderr);
  t.regex(drain.stdout, new RegExp(`node ${first.node} is draining: 1 job will checkpoint and move`));
  const moved = await waitFor('the job to run on the other node', async () => {
    const j = await job(cluster, id);
    return j.state === 'running' && j.attempt === 2 ? j : undefined;
  });
  t.not(moved.node, first.node);
  t.true(moved.progress >= first.progress, 'it resumed where it stopped, not from the start');
  const done = await finished(cluster, id);
  t.is(done.state, 'succeeded', done.errorJson);
  t.deepEqual(JSON.parse(done.resultJson), await expected);
  t.is(done.moves, 1);
  t.is(done.retriesUsed, 0);
  const { lines } = await cluster.call('GetLogs', { job: id, after: 0 });
  t.true(lines.some((l) => l.attempt === 2 && /resumed from image 1\b/.test(l.text)), lines.map((l) => l.text).join('\n'));

  // A new job goes to the node that is not draining.
  const next = await submit(t, scheduler.address, CLUSTER_JOB, { steps: 5, stepMs: 0 });
  const nextDone = await finished(cluster, next);
  const nextLines = (await cluster.call('GetLogs', { job: next, after: 0 })).lines;
  t.true(nextLines.some((l) => l.text === `attempt 1 placed on node ${moved.node}`));
  t.is(nextDone.state, 'succeeded');
  const nodes = await runCli(t, ['nodes', ...scheduler.args]);
  t.regex(nodes.stdout, new RegExp(`^${first.node}\\s+draining`, 'm'));
});
