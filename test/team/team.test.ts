import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { JobStoppedError, RegionMismatchError } from '../../src/errors.js';
import { Rng } from '../../src/determinism/rng.js';
import { CONTROL_STOP } from '../../src/policy.js';
import { FIXTURES } from '../runner/helpers.js';
import { attempt, tempDir } from '../job/harness.js';

const MEMBER = pathToFileURL(path.join(FIXTURES, 'team-member.mjs'));

interface MemberResult {
  rank: number;
  step: number;
  own: number;
  sum: number;
}

test('a team runs its members in threads and resolves with their results by rank', async (t) => {
  const { context } = await attempt(tempDir(t, 'team'), false);
  const results = (await context.team(3, MEMBER, { steps: 40 })) as MemberResult[];
  t.deepEqual(results.map((r) => [r.rank, r.step]), [[0, 40], [1, 40], [2, 40]]);
  const sums = context.shared('sums', Float64Array, 3);
  // Σ step·(rank+1) for step 0..39, in the shared buffer every member wrote its slot of.
  t.deepEqual(Array.from(sums), [780, 1560, 2340]);
  t.deepEqual(results.map((r) => r.sum), [780, 1560, 2340]);
  await context.close();
});

test('every member resumes by rank from the team image, with the shared buffers captured once', async (t) => {
  const dir = tempDir(t, 'team');
  const first = await attempt(dir, false);
  // With a checkpoint every 10 safe points and a member failing at step 25, the last image is at step 20.
  first.context.shared('sums', Float64Array, 2);
  const failed = await t.throwsAsync(first.context.team(2, MEMBER, { steps: 40, fail: { rank: 1, step: 25, attempt: 1, how: 'throw' } }));
  t.regex(failed!.message, /team member 1 failed: member 1 fails at step 25/);
  await first.context.close();

  const clean = await attempt(tempDir(t, 'team-clean'), false);
  const expected = await clean.context.team(2, MEMBER, { steps: 40 });
  await clean.context.close();

  const second = await attempt(dir, true);
  t.true(second.context.restored);
  const resumed = await second.context.team(2, MEMBER, { steps: 40 });
  t.deepEqual(resumed, expected);
  t.deepEqual(second.logs, ['team-member: resumed at step 20/40 (attempt 2)']);
  t.deepEqual(second.warnings, []);
  await second.context.close();
});

test('a restart that starts a smaller team than its image holds gets RegionMismatchError', async (t) => {
  const dir = tempDir(t, 'team');
  const first = await attempt(dir, false);
  await first.context.team(3, MEMBER, { steps: 10 });
  await first.context.close();
  const second = await attempt(dir, true);
  const error = await t.throwsAsync(second.context.team(2, MEMBER, { steps: 10 }), { instanceOf: RegionMismatchError });
  t.regex(error!.message, /the image holds a team member of rank 2, but this attempt starts a team of 2/);
  await second.context.close();
});

test('a member with an uncapturable state fails the team with its code', async (t) => {
  const { context } = await attempt(tempDir(t, 'team'), false);
  const error = await t.throwsAsync(context.team(2, MEMBER, { steps: 30, fail: { rank: 0, step: 10, attempt: 1, how: 'uncapturable' } }));
  t.is((error as Error & { code?: string }).code, 'CR_STATE_UNCAPTURABLE');
  t.regex(error!.message, /team member 0 failed: state "count" of team member 0 is not cloneable/);
  await context.close();
});

test('a member that exits ends the team, and the other members are stopped', async (t) => {
  const { context } = await attempt(tempDir(t, 'team'), false);
  const error = await t.throwsAsync(context.team(2, MEMBER, { steps: 1e6, fail: { rank: 1, step: 5, attempt: 1, how: 'exit' } }));
  t.regex(error!.message, /team member 1 exited \(code 3\) before it finished/);
  await context.close();
});

test('a member that calls checkpoint() more often than its peers fails the team instead of waiting forever', async (t) => {
  const { context } = await attempt(tempDir(t, 'team'), false);
  const error = await t.throwsAsync(context.team(3, MEMBER, { steps: 20, extra: { rank: 1, calls: 1 } }));
  t.regex(error!.message, /team member 1 failed: a team member returned while this one waits at a safe point: every member must call checkpoint\(\) the same number of times/);
  await context.close();
});

test('a stop request is served at the team safe point: the image is committed and the team stops', async (t) => {
  const dir = tempDir(t, 'team');
  const control = new Int32Array(new SharedArrayBuffer(4));
  const { context } = await attempt(dir, false, { control });
  const running = context.team(2, MEMBER, { steps: 1e9 });
  setTimeout(() => Atomics.store(control, 0, CONTROL_STOP), 200);
  const error = await t.throwsAsync(running, { instanceOf: JobStoppedError });
  t.truthy(error?.imageId);
  await context.close();
  const again = await attempt(dir, true);
  t.true(again.context.restored);
  await again.context.close();
});

test('with a checkpoint interval and no count, the team takes images by time', async (t) => {
  const dir = tempDir(t, 'team');
  const { context } = await attempt(dir, false, { everyCalls: null, intervalMs: 20 });
  const images: number[] = [];
  const results = (await context.team(2, MEMBER, { steps: 3000, work: 30000 })) as MemberResult[];
  t.deepEqual(results.map((r) => r.step), [3000, 3000]);
  await context.close();
  for (const name of fs.readdirSync(path.join(dir, 'job'))) if (name.endsWith('.crimg')) images.push(Number(name.slice(0, 8)));
  t.true(images.length >= 1, 'at least one image was taken by time');
});

test('a member\'s random streams are its own and continue after a restart; cr.random() of a member too', async (t) => {
  const dir = tempDir(t, 'team');
  const member = pathToFileURL(path.join(FIXTURES, 'team-random-member.mjs'));
  const first = await attempt(dir, false);
  await t.throwsAsync(first.context.team(2, member, { steps: 30, failAt: 25 }), { message: /team member 0 failed: lost/ });
  await first.context.close();
  const second = await attempt(dir, true);
  const resumed = (await second.context.team(2, member, { steps: 30 })) as { draws: number[]; seed: string }[];
  await second.context.close();
  // The stream of each member replayed from its seed: the draws after the restart (steps 20..29) continue it.
  for (const [rank, r] of resumed.entries()) {
    const replay = new Rng(BigInt(r.seed));
    const all = Array.from({ length: 30 }, () => replay.random());
    t.deepEqual(r.draws, all.slice(20), `member ${rank}`);
  }
  t.not(resumed[0]!.seed, resumed[1]!.seed);
});

test('misuse of team and shared is refused with RangeError or TypeError naming the argument', async (t) => {
  const { context } = await attempt(tempDir(t, 'team'), false);
  await t.throwsAsync(context.team(0, MEMBER), { instanceOf: RangeError, message: /n must be a whole number from 1 to 256, got 0/ });
  await t.throwsAsync(context.team(2, '' as string), { instanceOf: TypeError, message: /workerFile must be a path or a URL/ });
  const running = context.team(1, MEMBER, { steps: 200, work: 2000 });
  await t.throwsAsync(context.team(1, MEMBER), { instanceOf: TypeError, message: /a team is already running/ });
  await t.throwsAsync(context.checkpoint({ force: true }), { instanceOf: TypeError, message: /while a team runs/ });
  await running;
  context.shared('grid', Float64Array, 10);
  t.throws(() => context.shared('grid', Float64Array, 11), { instanceOf: TypeError, message: /shared "grid" is a Float64Array\(10\); it was asked for as Float64Array\(11\)/ });
  t.throws(() => context.shared('other', Float64Array, 0), { instanceOf: RangeError, message: /length must be a positive whole number/ });
  t.throws(() => context.shared('other', Array as unknown as Float64ArrayConstructor, 1), { instanceOf: TypeError, message: /region type must be a typed-array constructor/ });
  await context.close();
});
