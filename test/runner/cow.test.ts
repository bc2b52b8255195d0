// Copy-on-write under `cr-scheduler run` (the job in its worker thread, images written by its
// writer thread): the writer job rewrites a stripe of its region right after every checkpoint,
// while the flush runs, and is SIGKILLed at random moments; every restart checks the restored
// region against its state (a torn image fails the run) and the last run must end with the
// uninterrupted result. Replay a failure with CR_TEST_SEED=<seed>.
import path from 'node:path';
import test from 'ava';
import { copyOnWriteMode } from '../../src/capture/cow.js';
import { FIXTURES, resultOf, seededRandom, sleep, startCli, tempDir, testSeed, uninterruptedResult } from './helpers.js';

const WRITER = path.join(FIXTURES, 'writer-job.mjs');
const ARGS = { mib: 96, steps: 3000, stripes: 48 };
const cow = copyOnWriteMode();
if (!cow.available) console.log(`runner/cow.test: skipped, copy-on-write is unavailable here: ${cow.reason}`);

(cow.available ? test.serial : test.skip)('A writer under --capture cow, SIGKILLed at 5 random moments, always restarts from an untorn image and ends with the uninterrupted result.', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (replay: CR_TEST_SEED=${seed})`);
  const random = seededRandom(seed);
  const store = tempDir(t, 'cow-kill');
  const command = ['-v', 'run', WRITER, '--store', store, '--args', JSON.stringify(ARGS), '--every', '1', '--interval', '3600', '--retries', '0', '--capture', 'cow'];
  const first = startCli(t, command);
  await first.waitForStderr(/writer: fresh start/);
  await first.waitUntil(() => (first.stderr.match(/^checkpoint writer-job-\d+: /gm) ?? []).length >= 3, 'three checkpoints');
  first.child.kill('SIGKILL');
  await first.exit;
  for (let i = 1; i <= 5; i++) {
    const run = startCli(t, command);
    await run.waitForStderr(/writer: restored step (\d+) from image (\S+); content verified/);
    // At a random moment, but no later than 10 checkpoints on: a fast machine cannot end the job first.
    const checkpoints = (): number => (run.stderr.match(/^checkpoint writer-job-\d+: /gm) ?? []).length;
    await Promise.race([sleep(100 + random() * 900), run.waitUntil(() => run.exited || checkpoints() >= 10, 'ten checkpoints')]);
    t.false(run.exited, `run ${i} ended by itself\n${run.describe()}`);
    run.child.kill('SIGKILL');
    await run.exit;
  }
  const last = startCli(t, command.filter((arg, k) => arg !== '--every' && command[k - 1] !== '--every'));
  const final = await last.exit;
  t.is(final.code, 0, last.describe());
  t.regex(final.stderr, /writer: restored step \d+ from image \S+; content verified/);
  t.deepEqual(resultOf(t, final), await uninterruptedResult(WRITER, ARGS));
});
