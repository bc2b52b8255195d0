// Teams end to end through `cr-scheduler run`: the team version of heat2d gives heat2d's result,
// and a member that dies brings the whole team back to its last image (the runner's restart).
// (SIGKILLs of a running team are in kill-restart.test.ts, case heat2d-team.)
import path from 'node:path';
import test from 'ava';
import { EXIT_STOPPED } from '../../scheduler/signals.js';
import { EXAMPLES, FIXTURES, imageId, newestSequence, resultOf, runCli, show, startCli, tempDir, uninterruptedResult } from './helpers.js';

test('heat2d-team over 2 and 3 members ends with exactly the result and checksum of heat2d', async (t) => {
  const args = { n: 96, steps: 600 };
  const expected = await uninterruptedResult(path.join(EXAMPLES, 'heat2d.mjs'), args);
  for (const members of [2, 3]) {
    const run = await runCli(t, ['run', path.join(EXAMPLES, 'heat2d-team.mjs'), '--store', tempDir(t, 'team'), '--args', JSON.stringify({ ...args, members }), '--every', '50', '--no-progress']);
    t.is(run.code, 0, show(run));
    t.deepEqual(resultOf(t, run), expected, `${members} members`);
  }
});

test('a member thread that exits brings the whole team back to the last image, and the job ends as if uninterrupted', async (t) => {
  const job = path.join(FIXTURES, 'team-job.mjs');
  const expected = await uninterruptedResult(job, { members: 3, steps: 60 });
  const args = { members: 3, steps: 60, fail: { rank: 2, step: 35, attempt: 1, how: 'exit' } };
  const run = await runCli(t, ['run', job, '--store', tempDir(t, 'team'), '--args', JSON.stringify(args), '--every', '10', '--retries', '1', '--retry-delay', '0.1', '--no-progress']);
  t.is(run.code, 0, show(run));
  t.regex(run.stderr, /team member 2 exited \(code 3\) before it finished/);
  t.regex(run.stderr, /team-member: resumed at step 30\/60 \(attempt 2\)/);
  t.deepEqual(resultOf(t, run), expected);
});

test('SIGTERM stops a team at its next safe point with an image, and the next run resumes every member there', async (t) => {
  const job = path.join(EXAMPLES, 'heat2d-team.mjs');
  const args = { n: 128, steps: 8000 };
  const store = tempDir(t, 'team-stop');
  const command = ['run', job, '--store', store, '--args', JSON.stringify(args), '--every', '1000', '--interval', '3600', '--no-progress'];
  const run = startCli(t, command);
  await run.waitUntil(() => newestSequence(store, 'heat2d-team') > 0, 'the first image');
  run.child.kill('SIGTERM');
  const stopped = await run.exit;
  t.is(stopped.code, EXIT_STOPPED, run.describe());
  t.is(stopped.stdout, '');
  const stopImage = newestSequence(store, 'heat2d-team');
  t.regex(stopped.stderr, new RegExp(`job "heat2d-team" stopped after checkpoint ${imageId('heat2d-team', stopImage)}\\.`));
  const resumed = await runCli(t, command);
  t.is(resumed.code, 0, show(resumed));
  t.regex(resumed.stderr, new RegExp(`resuming "heat2d-team" from image ${imageId('heat2d-team', stopImage)} `));
  const at = Number(/heat2d-team: resumed at step (\d+)\/8000/.exec(resumed.stderr)?.[1]);
  t.true(at > 0 && at < args.steps, `resumed at step ${at}`);
  t.deepEqual(resultOf(t, resumed), await uninterruptedResult(path.join(EXAMPLES, 'heat2d.mjs'), args));
});
