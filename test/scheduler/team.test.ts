// Team jobs under the scheduler: `submit` ships the members' module with the job (a code pack),
// and a team whose node is SIGKILLed mid-run resumes on another node from its latest team image
// and ends bit-identical to an uninterrupted run (issue 6).
import path from 'node:path';
import test from 'ava';
import type { CliProcess } from '../runner/helpers.js';
import { EXAMPLES, uninterruptedResult } from '../runner/helpers.js';
import { client, finished, job, startAgent, startScheduler, submit, waitFor } from './helpers.js';

test('a heat2d team whose node is SIGKILLed mid-run finishes on another node with exactly the result of an uninterrupted heat2d run', async (t) => {
  const args = { n: 128, steps: 30000 };
  // heat2d-team gives heat2d's result (test/runner/team.test.ts): compare with the single-thread run.
  const expected = uninterruptedResult(path.join(EXAMPLES, 'heat2d.mjs'), args);
  const scheduler = await startScheduler(t);
  const agents = new Map<string, CliProcess>();
  for (const name of ['a', 'b']) agents.set(name, await startAgent(t, scheduler.address, name));
  const cluster = client(t, scheduler.address);
  const id = await submit(t, scheduler.address, path.join(EXAMPLES, 'heat2d-team.mjs'), { ...args, members: 2 }, ['--interval', '0.2', '--retries', '0']);

  // Running its team, with a team image uploaded by this attempt, and some way in.
  const running = await waitFor('the first attempt to have an image', async () => {
    const j = await job(cluster, id);
    if (j.state !== 'running' || j.attempt !== 1 || j.progress < 0.2) return undefined;
    const { images } = await cluster.call('ListImages', { job: id });
    return images.some((i) => i.attempt === 1) ? j : undefined;
  });
  agents.get(running.node)!.child.kill('SIGKILL');

  const done = await finished(cluster, id);
  t.is(done.state, 'succeeded', done.errorJson);
  t.deepEqual(JSON.parse(done.resultJson), await expected);
  t.is(done.attempt, 2);
  t.is(done.moves, 1, 'the first attempt was lost with its node');
  const { lines } = await cluster.call('GetLogs', { job: id, after: 0 });
  const text = lines.map((l) => l.text).join('\n');
  // The second attempt restored the team's image rather than starting over.
  const at = Number(/heat2d-team: resumed at step (\d+)\/30000 \(attempt 2\)/.exec(text)?.[1]);
  t.true(at > 0 && at < args.steps, `resumed at step ${at}\n${text}`);
  const winner = /succeeded on node (\S+)/.exec(text)?.[1];
  t.truthy(winner, text);
  t.not(winner, running.node, 'it finished on the surviving node');
});
