// Kill and resume: `cr-scheduler run` is SIGKILLed at random moments (every thread of the job
// dies with the process, nothing gets to clean up), the same command is run again, and the
// final result must be exactly that of a run that was never interrupted.
//
// The kill times come from a seeded PRNG; the seed is in the test's log. Replay a failure with
// CR_TEST_SEED=<seed> npx ava dist/test/runner/kill-restart.test.js
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { loadNative } from '../../src/native/binding.js';
import {
  EXAMPLES,
  HANG_GUARD_MS,
  imageId,
  killMoment,
  newestSequence,
  resultOf,
  seededRandom,
  startCli,
  tempDir,
  testSeed,
  uninterruptedResult,
} from './helpers.js';

interface KillCase {
  job: string;
  args: Record<string, number>;
  /** --every: an image every this many safe points. */
  every: number;
  /** A line the job logs when it resumes, with the step it resumed at in group 1. */
  resumedLine: RegExp;
}

// Sized so that one uninterrupted run takes 1–2 s here, and so that 5 kill rounds (each at most
// MAX_IMAGES_PER_ROUND images, however fast the machine) cannot finish the job before the last kill.
const CASES: KillCase[] = [
  { job: 'heat2d', args: { n: 128, steps: 8000 }, every: 100, resumedLine: /heat2d: resumed at step (\d+)\/8000/ },
  // 2e8 samples: on a quiet machine one round of 1e8 went 11 images of 50 in 200 ms, and 5 rounds ended the job.
  { job: 'montecarlo-pi', args: { samples: 2e8, batch: 1e5 }, every: 20, resumedLine: /montecarlo-pi: resumed at (\d+)\/200000000 samples/ },
  // A team of 2 worker threads sharing the grids (cr.team, cr.shared).
  { job: 'heat2d-team', args: { n: 128, steps: 8000 }, every: 100, resumedLine: /heat2d-team: resumed at step (\d+)\/8000/ },
  // A WebAssembly kernel whose whole linear memory is registered with cr.protect().
  { job: 'gray-scott-wasm', args: { n: 128, steps: 4000 }, every: 100, resumedLine: /gray-scott-wasm: resumed at step (\d+)\/4000/ },
];
const MAX_DELAY_MS = 250;
const MAX_IMAGES_PER_ROUND = 4;

const native = loadNative();
const CODECS: { codec: 'native' | 'portable'; available: boolean }[] = [
  { codec: 'native', available: native.binding !== null },
  { codec: 'portable', available: true },
];

for (const c of CASES) {
  for (const { codec, available } of CODECS) {
    const title = `${c.job} killed with SIGKILL 3 to 5 times at random moments ends with the uninterrupted result (${codec} codec).`;
    if (available) test.serial(title, (t) => killAndResume(t, c, codec));
    else test.skip(`${title} [native addon unavailable: ${native.reason ?? 'no reason given'}]`, () => undefined);
  }
}

async function killAndResume(t: ExecutionContext, c: KillCase, codec: 'native' | 'portable'): Promise<void> {
  const seed = testSeed();
  t.log(`seed ${seed} (replay: CR_TEST_SEED=${seed})`);
  const random = seededRandom(seed);
  const expected = await uninterruptedResult(path.join(EXAMPLES, `${c.job}.mjs`), c.args);

  const store = tempDir(t, `kill-${c.job}`);
  const command = [
    'run',
    path.join(EXAMPLES, `${c.job}.mjs`),
    '--store',
    store,
    '--args',
    JSON.stringify(c.args),
    '--every',
    String(c.every),
    '--interval',
    '3600',
    '--retries',
    '0',
    '--codec',
    codec,
  ];
  const kills = 3 + Math.floor(random() * 3);
  let resumedAt = -1;
  for (let k = 1; k <= kills; k++) {
    const before = newestSequence(store, c.job);
    const run = startCli(t, command);
    if (before > 0) {
      // A rerun resumes from the newest image, the one committed last before the kill.
      const resuming = await run.waitForStderr(new RegExp(`resuming "${c.job}" from image (\\S+)`));
      t.is(resuming[1], imageId(c.job, before), `kill ${k}: resumed from the wrong image\n${run.describe()}`);
      const at = Number((await run.waitForStderr(c.resumedLine))[1]);
      t.true(at > resumedAt, `kill ${k}: resumed at ${at}, no further than after the previous kill (${resumedAt})`);
      resumedAt = at;
    }
    // Let it make progress (a new image), then kill it at a random moment after that.
    await run.waitUntil(() => newestSequence(store, c.job) > before, 'a new image', HANG_GUARD_MS, 2);
    const delay = Math.round(random() * MAX_DELAY_MS);
    await killMoment(run, store, c.job, before, delay, MAX_IMAGES_PER_ROUND);
    t.false(run.exited, `kill ${k} of ${kills}: the job ended before it could be killed; make it longer\n${run.describe()}`);
    run.child.kill('SIGKILL');
    const exit = await run.exit;
    t.is(exit.signal, 'SIGKILL');
    t.is(exit.stdout, '', 'a killed run prints no result');
    t.log(`kill ${k}/${kills}: ${delay} ms after image ${before + 1}; newest image then ${newestSequence(store, c.job)}`);
  }

  const newest = newestSequence(store, c.job);
  const last = startCli(t, command);
  const final = await last.exit;
  t.is(final.code, 0, last.describe());
  t.regex(final.stderr, new RegExp(`resuming "${c.job}" from image ${imageId(c.job, newest)} `));
  const at = Number(c.resumedLine.exec(final.stderr)?.[1]);
  t.true(at > resumedAt, `the last run resumed at ${at}, no further than after the previous kill (${resumedAt})`);
  const result = resultOf(t, final) as { checksum: string };
  t.deepEqual(result, expected);
  t.is(result.checksum, (expected as { checksum: string }).checksum);
}
