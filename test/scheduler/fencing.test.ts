// Fencing: an agent frozen with SIGSTOP past its lease is presumed dead and its job resumes
// elsewhere; when it is resumed with SIGCONT, its stale attempt is refused and stopped, and the
// job finishes once, with the right result.
import test from 'ava';
import type { CliProcess } from '../runner/helpers.js';
import { uninterruptedResult } from '../runner/helpers.js';
import { CLUSTER_JOB, client, finished, job, startAgent, startScheduler, submit, waitFor } from './helpers.js';

test('an agent frozen past its lease and then resumed has its stale attempt fenced; the job finishes once with the right result.', async (t) => {
  // Attempt 1 holds at step 45 (taking images by time) until it is stopped: it surely runs when frozen.
  const args = { steps: 300, stepMs: 15, holdAt: 45 };
  const expected = uninterruptedResult(CLUSTER_JOB, { steps: 300, stepMs: 0 }); // holding changes no result
  const scheduler = await startScheduler(t);
  const agents = new Map<string, CliProcess>();
  for (const name of ['a', 'b']) agents.set(name, await startAgent(t, scheduler.address, name));
  const cluster = client(t, scheduler.address);
  const id = await submit(t, scheduler.address, CLUSTER_JOB, args, ['--interval', '0.2']);
  const first = await waitFor('the job to run with an image', async () => {
    const j = await job(cluster, id);
    return j.state === 'running' && j.images > 0 && j.progress > 0.1 ? j : undefined;
  });
  const frozen = agents.get(first.node)!;
  frozen.child.kill('SIGSTOP');
  t.teardown(() => frozen.child.kill('SIGCONT'));
  // Attempt 2 runs on, or (polled on a loaded machine) has already finished, where it was placed.
  await waitFor('the job to run elsewhere', async () => {
    const j = await job(cluster, id);
    return j.attempt === 2 && (j.state === 'succeeded' || (j.state === 'running' && j.progress > first.progress)) ? j : undefined;
  });
  const placed = (await cluster.call('GetLogs', { job: id, after: 0 })).lines.map((l) => /^attempt 2 placed on node (\S+)/.exec(l.text)?.[1]).find((n) => n !== undefined);
  t.truthy(placed);
  t.not(placed, first.node);
  frozen.child.kill('SIGCONT');
  // The frozen agent learns that its attempt is stale and ends it.
  await frozen.waitForStderr(/job \d+ attempt 1: stopping it/);
  const done = await finished(cluster, id);
  t.is(done.state, 'succeeded', done.errorJson);
  t.deepEqual(JSON.parse(done.resultJson), await expected);
  t.is(done.attempt, 2);
  const { lines } = await cluster.call('GetLogs', { job: id, after: 0 });
  t.is(lines.filter((l) => l.kind === 'event' && l.text.startsWith('succeeded')).length, 1);
  // No image of attempt 1 was accepted after attempt 2 began.
  const { images } = await cluster.call('ListImages', { job: id });
  const firstOfSecond = Math.min(...images.filter((i) => i.attempt === 2).map((i) => i.sequence));
  t.true(images.filter((i) => i.attempt === 1).every((i) => i.sequence < firstOfSecond));
  // The node came back: it re-registered and is alive again.
  const { nodes } = await cluster.call('ListNodes', {});
  await waitFor('the node to be alive', async () => ((await cluster.call('ListNodes', {})).nodes.find((n) => n.name === first.node)?.state === 'alive' ? true : undefined));
  t.is(nodes.length, 2);
});
