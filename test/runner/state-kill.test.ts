// Kill and resume a job whose result is a file: it reads an input file line by line, draws from
// cr.random() and cr.rng(seed), and writes a line per step to an output file (cr.open). After
// SIGKILLs at random moments and restarts, the output file must hold every line exactly once, in
// order, with the numbers an uninterrupted run draws; the input must be read on, not re-read.
//
// Replay a failure with CR_TEST_SEED=<seed> npx ava dist/test/runner/state-kill.test.js
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { Rng } from '../../src/determinism/rng.js';
import { FIXTURES, HANG_GUARD_MS, imageId, killMoment, newestSequence, resultOf, runCli, seededRandom, show, startCli, tempDir, testSeed } from './helpers.js';

const JOB = path.join(FIXTURES, 'stream-job.mjs');
const STEPS = 6000;
const WORK = 30000;
const MAX_DELAY_MS = 250;
/** Images a run may commit before it is killed: 5 rounds end far from the job's 300, on any machine. */
const MAX_IMAGES_PER_ROUND = 4;
const RESUMED = /stream-job: resumed at step (\d+)\/\d+, elapsed ([\d.]+) ms/g;
const OUTPUT_AT = /stream-job: output at byte (\d+), (\d+) bytes on disk/g;

interface StreamResult {
  steps: number;
  sum: number;
  seed: string;
  next: number;
  elapsedMs: number;
}

test.serial('a job killed with SIGKILL 3 to 5 times ends with an output file holding every line once, in order, as an uninterrupted run wrote it', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (replay: CR_TEST_SEED=${seed})`);
  const random = seededRandom(seed);
  const dir = tempDir(t, 'stream');
  const input = path.join(dir, 'in.txt');
  const inputLines = Array.from({ length: STEPS }, (_, i) => `in-${i}-${(i * 2654435761) % 1000003}`);
  fs.writeFileSync(input, inputLines.join('\n') + '\n');
  const argsFor = (output: string): string => JSON.stringify({ input, output, steps: STEPS, work: WORK });

  const cleanOut = path.join(dir, 'uninterrupted.txt');
  const clean = await runCli(t, ['run', JOB, '--store', path.join(dir, 'clean'), '--args', argsFor(cleanOut), '--interval', '3600', '--retries', '0', '--no-progress']);
  t.is(clean.code, 0, show(clean));
  const expected = resultOf(t, clean) as StreamResult;

  const out = path.join(dir, 'out.txt');
  const store = path.join(dir, 'store');
  const command = ['run', JOB, '--store', store, '--args', argsFor(out), '--every', '20', '--interval', '3600', '--retries', '0', '--no-progress'];
  const job = 'stream-job';
  const kills = 3 + Math.floor(random() * 3);
  const resumedElapsed: number[] = [];
  for (let k = 1; k <= kills; k++) {
    const before = newestSequence(store, job);
    const run = startCli(t, command);
    if (before > 0) {
      const resuming = await run.waitForStderr(new RegExp(`resuming "${job}" from image (\\S+)`));
      t.is(resuming[1], imageId(job, before), run.describe());
    }
    await run.waitUntil(() => newestSequence(store, job) > before, 'a new image', HANG_GUARD_MS, 2);
    const delay = Math.round(random() * MAX_DELAY_MS);
    await killMoment(run, store, job, before, delay, MAX_IMAGES_PER_ROUND);
    t.false(run.exited, `kill ${k} of ${kills}: the job ended before it could be killed; make it longer\n${run.describe()}`);
    run.child.kill('SIGKILL');
    const exit = await run.exit;
    t.is(exit.signal, 'SIGKILL');
    for (const m of exit.stderr.matchAll(RESUMED)) resumedElapsed.push(Number(m[2]));
    // The restart cut the file back to the length its image recorded, where the job writes on.
    for (const m of exit.stderr.matchAll(OUTPUT_AT)) t.is(m[2], m[1], `kill ${k}: the output file was not cut back to the image's length`);
    t.log(`kill ${k}/${kills}: ${delay} ms after image ${before + 1}; output then ${fs.statSync(out).size} bytes`);
  }
  const last = await runCli(t, command);
  t.is(last.code, 0, show(last));
  const result = resultOf(t, last) as StreamResult;

  // The seeded stream and the state continue exactly: same sum, same next number.
  t.is(result.steps, STEPS);
  t.is(result.sum, expected.sum);
  t.is(result.next, expected.next);

  // Every line once, in order; the input read on; the numbers an uninterrupted run draws.
  const lines = fs.readFileSync(out, 'utf8').split('\n');
  t.is(lines.pop(), '', 'the file ends with a whole line');
  const cleanLines = fs.readFileSync(cleanOut, 'utf8').split('\n');
  t.is(lines.length, STEPS);
  const replay = new Rng(BigInt(result.seed)); // cr.random()'s default stream, from the seed it reported
  const replayClean = new Rng(BigInt(expected.seed));
  let bad = 0;
  for (let i = 0; i < lines.length; i++) {
    const [step, line, acc, r] = lines[i]!.split(' ');
    const [, , cleanAcc, cleanR] = cleanLines[i]!.split(' ');
    const ok = step === String(i) && line === inputLines[i] && acc === cleanAcc && Number(r) === replay.random() && Number(cleanR) === replayClean.random();
    if (!ok && bad++ < 3) t.fail(`line ${i}: ${lines[i]} (uninterrupted: ${cleanLines[i]})`);
  }
  t.is(bad, 0);

  // cr.elapsed() resumes from what the images captured: it never goes back across restarts.
  for (const m of last.stderr.matchAll(RESUMED)) resumedElapsed.push(Number(m[2]));
  for (const m of last.stderr.matchAll(OUTPUT_AT)) t.is(m[2], m[1], 'the last run: the output file was not cut back to the image\'s length');
  t.is(resumedElapsed.length, kills, 'every rerun logged its resume');
  t.true(resumedElapsed[0]! > 0);
  for (let i = 1; i < resumedElapsed.length; i++) t.true(resumedElapsed[i]! > resumedElapsed[i - 1]!, `elapsed at the resumes: ${resumedElapsed.join(', ')}`);
  t.true(result.elapsedMs > resumedElapsed.at(-1)!);
});
