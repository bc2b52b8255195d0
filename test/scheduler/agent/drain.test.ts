// SIGTERM drains an agent: the scheduler stops placing work on its node, its job checkpoints at
// the next safe point and resumes on another node from that image, and the agent exits 0; an
// agent started again under the same name takes work again.
import test from 'ava';
import { runCli, uninterruptedResult } from '../../runner/helpers.js';
import { CLUSTER_JOB, client, finished, job, startAgent, startScheduler, submit, underWay, waitFor } from '../helpers.js';

test('SIGTERM drains an agent: its job checkpoints and moves to another node, the agent exits 0, and started again it takes work.', async (t) => {
  // The first attempt holds at step 100 until it is drained: the drain finds it running however slow the machine.
  const args = { steps: 300, stepMs: 15, holdAt: 100 };
  const expected = uninterruptedResult(CLUSTER_JOB, { steps: 300, stepMs: 0 }); // holding changes no result
  const scheduler = await startScheduler(t);
  const agents = new Map<string, Awaited<ReturnType<typeof startAgent>>>();
  for (const name of ['a', 'b']) agents.set(name, await startAgent(t, scheduler.address, name));
  const cluster = client(t, scheduler.address);
  // An interval far beyond the run: the only image is the one the drain asks for.
  const id = await submit(t, scheduler.address, CLUSTER_JOB, args, ['--interval', '3600']);
  const first = await underWay(cluster, id, 0.33);
  t.is(first.images, 0);
  const agent = agents.get(first.node)!;
  agent.child.kill('SIGTERM');
  const exit = await agent.exit;
  t.is(exit.code, 0, agent.describe());
  t.regex(exit.stderr, new RegExp(`SIGTERM: draining node ${first.node}: 1 job will checkpoint and move to other nodes, for at most 120 s \\(SIGTERM again stops at once\\)`));
  t.regex(exit.stderr, /drained: every job was handed back to the scheduler; exiting/);
  // The agent exited only after its job was handed back: the job already waits for, or runs on, the other node.
  const handed = await job(cluster, id);
  t.true(handed.attempt === 2 || handed.state === 'queued', JSON.stringify(handed));
  t.is(handed.images, 1);

  const done = await finished(cluster, id);
  t.is(done.state, 'succeeded', done.errorJson);
  t.deepEqual(JSON.parse(done.resultJson), await expected);
  t.is(done.moves, 1);
  t.is(done.retriesUsed, 0);
  const { lines } = await cluster.call('GetLogs', { job: id, after: 0 });
  const text = lines.map((l) => l.text).join('\n');
  t.regex(text, new RegExp(`node ${first.node} is stopping \\(its agent was signalled\\): checkpointing to move the job`));
  t.true(lines.some((l) => l.attempt === 2 && /resumed from image 1\b/.test(l.text)), text);
  t.false(lines.some((l) => l.text === `attempt 2 placed on node ${first.node}`), text);
  t.regex(scheduler.cli.stderr, new RegExp(`node ${first.node} is draining: its agent is stopping`));

  // The same node started again takes work: a drain its agent asked for ends when it registers again.
  await startAgent(t, scheduler.address, first.node);
  const nodes = await runCli(t, ['nodes', ...scheduler.args]);
  t.regex(nodes.stdout, new RegExp(`^${first.node}\\s+alive`, 'm'), nodes.stdout);
  const other = [...agents.keys()].find((n) => n !== first.node)!;
  const drain = await runCli(t, ['drain', other, ...scheduler.args]);
  t.is(drain.code, 0, drain.stderr);
  const next = await submit(t, scheduler.address, CLUSTER_JOB, { steps: 5, stepMs: 0 });
  t.is((await finished(cluster, next)).state, 'succeeded');
  const nextLines = (await cluster.call('GetLogs', { job: next, after: 0 })).lines;
  t.true(nextLines.some((l) => l.text === `attempt 1 placed on node ${first.node}`), nextLines.map((l) => l.text).join('\n'));
});

// Safe points an hour apart: once the first step is done, a drain waits for a safe point that
// does not come while the test runs, however slow the machine.
const SLOW_ARGS = { steps: 100, stepMs: 3_600_000 };

test('A second SIGTERM during a drain exits at once with 130, and the job resumes on another node.', async (t) => {
  const scheduler = await startScheduler(t);
  const cluster = client(t, scheduler.address);
  const a = await startAgent(t, scheduler.address, 'a');
  const id = await submit(t, scheduler.address, CLUSTER_JOB, SLOW_ARGS, ['--interval', '3600']);
  await underWay(cluster, id, 0);
  a.child.kill('SIGTERM');
  await a.waitForStderr(/SIGTERM: draining node a: 1 job will checkpoint/);
  a.child.kill('SIGTERM');
  const exit = await a.exit;
  t.is(exit.code, 130, a.describe());
  t.regex(exit.stderr, /SIGTERM again: stopping at once; the scheduler resumes this node's jobs elsewhere from their latest images/);
  t.notRegex(exit.stderr, /drained: every job was handed back/);
  await startAgent(t, scheduler.address, 'b');
  const moved = await waitFor('the job to run on node b', async () => {
    const j = await job(cluster, id);
    return j.state === 'running' && j.node === 'b' ? j : undefined;
  });
  t.is(moved.attempt, 2);
  t.is(moved.images, 0, 'no checkpoint was taken: it starts over');
});

test('A drain that outlasts --drain-timeout ends the job without a checkpoint and exits 1, saying so.', async (t) => {
  const scheduler = await startScheduler(t);
  const cluster = client(t, scheduler.address);
  const a = await startAgent(t, scheduler.address, 'a', 1, ['--drain-timeout', '0.5']);
  const id = await submit(t, scheduler.address, CLUSTER_JOB, SLOW_ARGS, ['--interval', '3600']);
  await underWay(cluster, id, 0);
  a.child.kill('SIGTERM');
  const exit = await a.exit;
  t.is(exit.code, 1, a.describe());
  t.regex(exit.stderr, /--drain-timeout \(0\.5 s\) passed with 1 job still checkpointing: ended; they resume elsewhere from their previous image/);
  t.is((await job(cluster, id)).images, 0);
});
