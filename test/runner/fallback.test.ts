// When things go wrong between or during runs: damaged images are passed over for older ones,
// a store with no usable image says to use --fresh, a job that dies is restarted from its latest
// image (an exception, process.exit), and failures that a restart cannot fix are not retried.
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  EXAMPLES,
  FIXTURES,
  STACK_FRAME,
  flipBitInBlock,
  imageFile,
  imageId,
  listJobDir,
  resultOf,
  runCli,
  show,
  tempDir,
  uninterruptedResult,
  type CliExit,
} from './helpers.js';

const HEAT = path.join(EXAMPLES, 'heat2d.mjs');
// 3000 steps with an image every 500: the run leaves images 4, 5 and 6 (steps 2000, 2500, 3000).
const HEAT_ARGS = { n: 96, steps: 3000 };
const COUNTER = path.join(FIXTURES, 'counter-job.mjs');

// heat2d, but able to fail after its last step: a finished run would keep only its last image.
const HEAT_FAILING = path.join(FIXTURES, 'heat2d-fails-at-end.mjs');

function heatCommand(store: string, ...extra: string[]): string[] {
  return ['run', HEAT_FAILING, '--name', 'heat2d', '--store', store, '--args', JSON.stringify(HEAT_ARGS), '--every', '500', '--interval', '3600', ...extra];
}

/** A store where a heat2d run that failed after its last step left images 4, 5 and 6. */
async function heatStore(t: ExecutionContext): Promise<string> {
  const store = tempDir(t, 'fallback');
  const run = await runCli(t, [...heatCommand(store), '--retries', '0'], { FAIL_AT_END: '1' });
  t.is(run.code, 1, show(run));
  t.deepEqual(
    listJobDir(store, 'heat2d').images.map((i) => i.sequence),
    [4, 5, 6],
  );
  return store;
}

function truncateToHalf(file: string): void {
  fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
}

function emptyFile(file: string): void {
  fs.rmSync(file);
  fs.writeFileSync(file, '');
}

const DAMAGES: { what: string; damage: (file: string) => void | Promise<void>; error: RegExp }[] = [
  { what: 'one bit flipped in a block', damage: (file) => flipBitInBlock(file, 'u0'), error: /^region "u0" block 0 is damaged: its stored bytes do not match their hash/ },
  { what: 'truncated to half its size', damage: truncateToHalf, error: /^the footer is missing: the file is truncated or was not completely written/ },
  { what: 'replaced with an empty file', damage: emptyFile, error: /^the file is empty: not a complete checkpoint image/ },
];

for (const { what, damage, error } of DAMAGES) {
  test(`A newest image ${what} is passed over with a warning and the job resumes from the one before.`, async (t) => {
    const store = await heatStore(t);
    const newest = imageFile(store, 'heat2d', 6);
    await damage(newest);
    const run = await runCli(t, heatCommand(store));
    t.is(run.code, 0, show(run));
    // The warning names the file once, then says what is wrong with it.
    const warning = /^warning: passed over (.+)$/m.exec(run.stderr)?.[1] ?? '';
    t.true(warning.startsWith(`${newest}: `), run.stderr);
    t.regex(warning.slice(newest.length + 2), error);
    t.regex(run.stderr, new RegExp(`resuming "heat2d" from image ${imageId('heat2d', 5)} `));
    t.regex(run.stderr, /heat2d: resumed at step 2500\/3000/);
    t.deepEqual(resultOf(t, run), await uninterruptedResult(HEAT, HEAT_ARGS));
  });
}

test('When every image is damaged the run fails with exit code 1 and says to use --fresh, which then works.', async (t) => {
  const store = await heatStore(t);
  await flipBitInBlock(imageFile(store, 'heat2d', 4), 'u0');
  truncateToHalf(imageFile(store, 'heat2d', 5));
  emptyFile(imageFile(store, 'heat2d', 6));

  const failed = await runCli(t, heatCommand(store));
  t.is(failed.code, 1, show(failed));
  t.is(failed.stdout, '');
  t.regex(
    failed.stderr,
    /job "heat2d" failed after 1 attempt: none of the 3 images of job "heat2d" in .+ verifies \(newest: .+the file is empty.*\); start over with --fresh, or give an image with --from/,
  );
  t.notRegex(failed.stderr, /restarting/, 'a store without a usable image is not retried');
  t.notRegex(failed.stderr, STACK_FRAME);

  const fresh = await runCli(t, heatCommand(store, '--fresh'));
  t.is(fresh.code, 0, show(fresh));
  t.regex(fresh.stderr, /--fresh: deleted 3 images of "heat2d"/);
  t.notRegex(fresh.stderr, /resuming/);
  t.deepEqual(resultOf(t, fresh), await uninterruptedResult(HEAT, HEAT_ARGS));
});

test('An image given with --from that cannot be restored fails the run, exit 1, naming it: no other image and no fresh start is taken instead.', async (t) => {
  const store = await heatStore(t);
  const damaged = imageFile(store, 'heat2d', 5);
  truncateToHalf(damaged);
  const before = listJobDir(store, 'heat2d');

  const failed = await runCli(t, heatCommand(store, '--from', damaged));
  t.is(failed.code, 1, show(failed));
  t.is(failed.stdout, '');
  t.regex(failed.stderr, /job "heat2d" failed after 1 attempt: the image given to resume from cannot be restored \(.*00000005\.crimg: .*\); the job's other images were not tried/);
  t.notRegex(failed.stderr, /restarting|resuming/, 'neither image 6 nor a fresh start was taken instead');
  t.notRegex(failed.stderr, STACK_FRAME);
  t.deepEqual(listJobDir(store, 'heat2d'), before, 'the store is as it was');

  // Another job's image: refused the same way.
  const foreign = await runCli(t, ['run', HEAT_FAILING, '--name', 'other', '--store', store, '--args', JSON.stringify(HEAT_ARGS), '--from', imageFile(store, 'heat2d', 6)]);
  t.is(foreign.code, 1, show(foreign));
  t.regex(foreign.stderr, /the image given to resume from cannot be restored \(.*the image belongs to job "heat2d", not "other"\)/);
});

// The counter fixture takes an image every 10 steps: a failure at step 155 resumes from image 15 (step 150).
function counterCommand(store: string, args: Record<string, unknown>, ...extra: string[]): string[] {
  return ['run', COUNTER, '--store', store, '--args', JSON.stringify(args), '--every', '10', '--interval', '3600', '--retry-delay', '0.01', ...extra];
}

function attemptFailures(run: CliExit): string[] {
  return [...run.stderr.matchAll(/^attempt (\d+) of "counter-job" failed: (.*)$/gm)].map((m) => `${m[1]}: ${m[2]}`);
}

test('A job that throws on its first attempt only is restarted from its latest image and succeeds.', async (t) => {
  const store = tempDir(t, 'throw-once');
  const run = await runCli(t, counterCommand(store, { throwAt: 155 }));
  t.is(run.code, 0, show(run));
  t.deepEqual(attemptFailures(run), ['1: counter: planned failure at step 155 (attempt 1); restarting in 10 ms']);
  t.regex(run.stderr, /resuming "counter-job" from image counter-job-00000015 \(.*\), attempt 2/);
  t.regex(run.stderr, /counter: resumed at step 150 \(attempt 2\)/);
  t.regex(run.stderr, /job "counter-job" succeeded after 2 attempts/);
  t.deepEqual(resultOf(t, run), await uninterruptedResult(COUNTER, {}));
});

test('A job that always throws exhausts --retries and exits 1 with its error message, without a stack unless -v.', async (t) => {
  const store = tempDir(t, 'throw-always');
  const args = { throwAt: 155, throwAlways: true };
  const run = await runCli(t, counterCommand(store, args, '--retries', '2'));
  t.is(run.code, 1, show(run));
  t.is(run.stdout, '');
  t.deepEqual(attemptFailures(run), [
    '1: counter: planned failure at step 155 (attempt 1); restarting in 10 ms',
    '2: counter: planned failure at step 155 (attempt 2); restarting in 20 ms',
    '3: counter: planned failure at step 155 (attempt 3)',
  ]);
  t.regex(run.stderr, /job "counter-job" failed after 3 attempts: counter: planned failure at step 155 \(attempt 3\)\n$/);
  t.notRegex(run.stderr, STACK_FRAME);

  const verbose = await runCli(t, ['-v', ...counterCommand(tempDir(t, 'throw-always-v'), args, '--retries', '0')]);
  t.is(verbose.code, 1, show(verbose));
  t.regex(verbose.stderr, /job "counter-job" failed after 1 attempt: counter: planned failure at step 155 \(attempt 1\)/);
  t.regex(verbose.stderr, /Error: counter: planned failure at step 155 \(attempt 1\)\n\s+at .*counter-job\.mjs:\d+:\d+/);
});

test('A job that calls process.exit in the middle is restarted from its latest image.', async (t) => {
  const store = tempDir(t, 'exit');
  const run = await runCli(t, counterCommand(store, { exitAt: 155, exitCode: 3 }));
  t.is(run.code, 0, show(run));
  const failures = attemptFailures(run);
  t.is(failures.length, 1, run.stderr);
  t.regex(failures[0]!, /^1: .*exited with code:? 3; restarting in 10 ms$/);
  // Image 15 (step 150) was taken without waiting for it to be durable, so the exit may have cut
  // its write short: the restart resumes from whichever of 14 and 15 was committed.
  const resumed = /resuming "counter-job" from image counter-job-0000001(4|5) \(.*\), attempt 2/.exec(run.stderr);
  t.truthy(resumed, run.stderr);
  t.regex(run.stderr, new RegExp(`counter: resumed at step ${resumed?.[1] === '5' ? 150 : 140} \\(attempt 2\\)`));
  t.deepEqual(resultOf(t, run), await uninterruptedResult(COUNTER, {}));
});

test('A state that holds a function fails the job with its path and is not retried.', async (t) => {
  const store = tempDir(t, 'function');
  const run = await runCli(t, counterCommand(store, { functionAt: 155 }, '--retries', '3'));
  t.is(run.code, 1, show(run));
  t.is(run.stdout, '');
  t.deepEqual(attemptFailures(run), ['1: state "progress".cache.fn is a function, which cannot be checkpointed']);
  t.regex(run.stderr, /job "counter-job" failed after 1 attempt: state "progress"\.cache\.fn is a function, which cannot be checkpointed/);
  t.notRegex(run.stderr, STACK_FRAME);
  // The failed checkpoint left the images before it as they were.
  t.is(listJobDir(store, 'counter-job').images.at(-1)?.sequence, 15);
});

test('A restart that registers a region with another length fails clearly, is not retried, and --fresh starts over.', async (t) => {
  const store = tempDir(t, 'region-length');
  // Other args would be refused before anything runs: the code changes the length instead.
  const job = path.join(tempDir(t, 'region-length-job'), 'counter-job.mjs');
  fs.copyFileSync(COUNTER, job);
  const command = (...extra: string[]): string[] => ['run', job, ...counterCommand(store, { steps: 100 }, ...extra).slice(2)];
  const first = await runCli(t, command());
  t.is(first.code, 0, show(first));
  fs.writeFileSync(job, fs.readFileSync(job, 'utf8').replace('length = 4096, throwAt', 'length = 2048, throwAt'));

  const changed = await runCli(t, command('--retries', '3', '--allow-code-change'));
  t.is(changed.code, 1, show(changed));
  t.is(changed.stdout, '');
  t.is(attemptFailures(changed).length, 1, changed.stderr);
  t.regex(
    changed.stderr,
    /job "counter-job" failed after 1 attempt: region "data" was checkpointed as Float64Array\(4096\) but the job now asks for Float64Array\(2048\): register regions as they were when the image was taken, or start over with --fresh/,
  );
  t.notRegex(changed.stderr, STACK_FRAME);

  const fresh = await runCli(t, command('--fresh'));
  t.is(fresh.code, 0, show(fresh));
  t.deepEqual(resultOf(t, fresh), await uninterruptedResult(COUNTER, { steps: 100, length: 2048 }));
});
