// Teams end to end through `cr-scheduler run`: the team version of heat2d gives heat2d's result,
// and a member that dies brings the whole team back to its last image (the runner's restart).
// (SIGKILLs of a running team are in kill-restart.test.ts, case heat2d-team.)
import path from 'node:path';
import test from 'ava';
import { EXAMPLES, FIXTURES, resultOf, runCli, show, tempDir, uninterruptedResult } from './helpers.js';

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
