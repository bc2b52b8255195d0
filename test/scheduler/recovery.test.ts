// Recovery after node crashes: a job whose agent is SIGKILLed mid-run, twice, on different
// nodes, finishes on a surviving node with exactly the result of an uninterrupted run.
import test from 'ava';
import type { CliProcess } from '../runner/helpers.js';
import { uninterruptedResult } from '../runner/helpers.js';
import { CLUSTER_JOB, client, finished, job, startAgent, startScheduler, submit, waitFor } from './helpers.js';

test('a job whose node is SIGKILLed twice resumes on a surviving node from its latest image and ends bit-identical to an uninterrupted run.', async (t) => {
  // 4 MiB: four blocks, of which the job's steps change only the first, so images between full ones share the rest.
  // Attempts 1 and 2 hold at steps 60 and 120 (taking images by time) until their node is killed:
  // killed at that point however slow or fast the machine, they cannot end first.
  const args = { steps: 300, stepMs: 15, length: 1 << 19, holdAt: 60, holdAttempts: 2 };
  const expected = uninterruptedResult(CLUSTER_JOB, { steps: 300, stepMs: 0, length: 1 << 19 }); // holding changes no result
  const scheduler = await startScheduler(t);
  const agents = new Map<string, CliProcess>();
  for (const name of ['a', 'b', 'c']) agents.set(name, await startAgent(t, scheduler.address, name));
  const cluster = client(t, scheduler.address);
  const id = await submit(t, scheduler.address, CLUSTER_JOB, args, ['--interval', '0.2', '--retries', '0']);

  const killed: string[] = [];
  for (let kill = 1; kill <= 2; kill++) {
    // Running, with an image uploaded by this attempt, and some way in.
    const running = await waitFor(`attempt ${kill} to have an image`, async () => {
      const j = await job(cluster, id);
      if (j.state !== 'running' || j.attempt !== kill || j.progress < 0.2 * kill - 0.001) return undefined;
      const { images } = await cluster.call('ListImages', { job: id });
      return images.some((i) => i.attempt === kill) ? j : undefined;
    });
    t.false(killed.includes(running.node), `attempt ${kill} runs on a node not killed before`);
    agents.get(running.node)!.child.kill('SIGKILL');
    killed.push(running.node);
  }
  const done = await finished(cluster, id);
  t.is(done.state, 'succeeded', done.errorJson);
  t.deepEqual(JSON.parse(done.resultJson), await expected);
  t.is(done.attempt, 3);
  t.is(done.moves, 2, 'two attempts were lost with their nodes');
  t.is(done.retriesUsed, 0, 'a lost node spends no retry');
  // Each resumed attempt restored an image, rather than starting over.
  const { lines } = await cluster.call('GetLogs', { job: id, after: 0 });
  const resumed = lines.filter((l) => /resumed from image \d+/.test(l.text)).map((l) => l.attempt);
  t.deepEqual(resumed, [2, 3]);
  // Images between full ones are incremental: a resumed attempt fetched the bases they share blocks with.
  const { images } = await cluster.call('ListImages', { job: id });
  t.true(images.some((i) => i.bases.length > 0), JSON.stringify(images.map((i) => [i.sequence, i.bases])));
  const winner = /succeeded on node (\S+)/.exec(lines.map((l) => l.text).join('\n'))?.[1];
  t.truthy(winner);
  t.false(killed.includes(winner!), 'it finished on a surviving node');
});
