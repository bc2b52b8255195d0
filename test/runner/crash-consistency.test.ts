// "A process killed at any moment of a checkpoint never leaves a store from which restart fails
// or restores a torn image." The writer fixture checkpoints 16 MiB at every safe point, so it is
// almost always inside a checkpoint write; it is SIGKILLed 60 times, and after each kill the
// store is checked and the job restarted. A third of the kills fall at moments spread evenly over
// the time one checkpoint takes; where those land depends on the machine's speed and load, so the
// other kills are placed by what the writer has done, not by time: a third inside an image write
// (the process is stopped while a temp file exists and killed once it is known to be stopped
// there), a third right after the run reported an image committed.
//
// What each kill must leave: a store that opens; only committed images and temp files of the
// image being written (never listed as images); a newest image that `cr-scheduler image verify`
// passes and that the runner restores, not passed over. The fixture checks the restored region
// and state against the step the image holds, element by element, and fails the run otherwise.
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { getCodec } from '../../src/codec/index.js';
import { LocalStore, STORE_KEY_FILE } from '../../src/store/local-store.js';
import type { BlockCodec } from '../../src/codec/index.js';
import {
  FIXTURES,
  HANG_GUARD_MS,
  imageId,
  listJobDir,
  resultOf,
  runCli,
  show,
  sleep,
  startCli,
  tempDir,
  uninterruptedResult,
  type CliExit,
  type CliProcess,
  type JobDirListing,
} from './helpers.js';

const JOB = 'writer-job';
const WRITER = path.join(FIXTURES, 'writer-job.mjs');
// 6000 steps: each of the 61 killed runs advances it by a few dozen (more when incremental
// images are quick: 1200 steps once ran out before the 28th kill), and the last run, which takes
// no checkpoints, does the rest in a second or two.
const ARGS = { mib: 16, steps: 6000 };
const KILLS = 60;
/** Kinds of kill, taken in turn. */
const KINDS = ['timed', 'inside-write', 'after-commit'] as const;
const PER_KIND = KILLS / KINDS.length;
/** Visiting order of the timed offsets: a stride coprime with PER_KIND, so that load drifting over the test does not follow the offset. */
const STRIDE = 23;

interface AfterKill {
  newest: number;
  temps: JobDirListing['temps'];
  verify: Promise<CliExit>;
}

test.serial(`A writer SIGKILLed at ${KILLS} moments across its checkpoint writes always restarts from a whole, untorn image.`, async (t) => {
  // 62 runs of the writer, each a process that restores 16 MiB: minutes on a loaded machine, more
  // than ava's inactivity timeout; this is only the bound on a hang.
  t.timeout(30 * 60_000);
  const store = tempDir(t, 'crash');
  const links = tempDir(t, 'crash-links');
  const codec = await getCodec();
  const command = ['-v', 'run', WRITER, '--store', store, '--args', JSON.stringify(ARGS), '--every', '1', '--interval', '3600', '--retries', '0'];

  // A fresh start, killed once it has taken a few images.
  const first = startCli(t, command);
  await first.waitForStderr(/writer: fresh start/);
  await first.waitUntil(() => checkpointCount(first) >= 3, 'three checkpoints');
  first.child.kill('SIGKILL');
  let previous = await afterKill(t, first, store, links, codec, 'the first run');

  // Calibration: a restart, timed from its restore to its second image. The kills are spread
  // over that window, so they fall in every part of a checkpoint (capture, encode, write,
  // fsync, link, unlink, directory fsync, pruning) and in the step between two of them.
  const timed = startCli(t, command);
  const timedRestore = await timed.waitForStderr(/writer: restored step (\d+) from image (\S+); content verified/);
  const restoredAt = performance.now();
  t.is(timedRestore[2], imageId(JOB, previous.newest), `the timed restart did not restore the newest image\n${timed.describe()}`);
  await timed.waitUntil(() => checkpointCount(timed) >= 2, 'two checkpoints after the restore', HANG_GUARD_MS, 1);
  // Every few images is a full one (the others share unchanged blocks), and it takes longer:
  // the window is wide enough for the slowest checkpoint seen too, the first run's full image 1.
  const slowestMs = Math.max(...checkpointMs(first), ...checkpointMs(timed));
  const windowMs = Math.max(20, performance.now() - restoredAt, 1.5 * slowestMs);
  timed.child.kill('SIGKILL');
  await checkVerified(t, previous, 'the first run');
  previous = await afterKill(t, timed, store, links, codec, 'the timed restart');
  t.log(`checkpoints take up to ${slowestMs} ms here: ${PER_KIND} timed kills spread over the ${windowMs.toFixed(0)} ms after a restore`);

  const offsets: number[] = [];
  let killedMidWrite = 0;
  let killedAfterCommit = 0;
  const resumedFrom = new Set<number>();
  for (let i = 1; i <= KILLS; i++) {
    const kind = KINDS[i % KINDS.length]!;
    const run = startCli(t, command);
    const restored = await run.waitForStderr(/writer: restored step (\d+) from image (\S+); content verified/);
    t.is(restored[2], imageId(JOB, previous.newest), `kill ${i}: not restored from the newest image\n${run.describe()}`);
    // --every 1 from a fresh start: image n holds step n, so the state is from the image named.
    t.is(Number(restored[1]), previous.newest, `kill ${i}: the restored state is not that of image ${previous.newest}`);
    resumedFrom.add(previous.newest);
    for (const temp of previous.temps) t.false(fs.existsSync(temp.file), `kill ${i}: the dead writer's temp file ${temp.file} was not removed`);
    await checkVerified(t, previous, i === 1 ? 'the timed restart' : `kill ${i - 1}`);

    if (kind === 'timed') {
      const offset = ((((i / KINDS.length) * STRIDE) % PER_KIND) + 0.5) * (windowMs / PER_KIND);
      await sleep(offset);
      offsets.push(offset);
    } else if (kind === 'inside-write') {
      await stopInsideWrite(run, store);
    } else {
      await run.waitUntil(() => checkpointCount(run) >= 1, 'an image committed after the restore', HANG_GUARD_MS, 1);
    }
    t.false(run.exited, `kill ${i}: the writer ended by itself\n${run.describe()}`);
    run.child.kill('SIGKILL');
    const before = previous.newest;
    previous = await afterKill(t, run, store, links, codec, `kill ${i}`);
    if (previous.temps.length > 0) killedMidWrite++;
    if (previous.newest > before) killedAfterCommit++;
  }
  await checkVerified(t, previous, `kill ${KILLS}`);

  t.is(new Set(offsets.map((o) => o.toFixed(3))).size, PER_KIND, 'every timed kill was at a different moment');
  t.log(
    `${PER_KIND} timed kills from ${Math.min(...offsets).toFixed(1)} to ${Math.max(...offsets).toFixed(1)} ms after the restore; ` +
      `of all ${KILLS}, ${killedMidWrite} left a temp file, ${killedAfterCommit} came after the run had committed an image; ` +
      `restarts resumed from ${resumedFrom.size} different images`,
  );
  // The placed kills guarantee both cases whatever the load (the timed ones add to either).
  t.true(killedMidWrite >= PER_KIND, `only ${killedMidWrite} of ${KILLS} kills landed inside an image write`);
  t.true(killedAfterCommit >= PER_KIND, `only ${killedAfterCommit} of ${KILLS} kills came after the run committed an image`);

  // The last run goes to the end without checkpoints and must give the uninterrupted result.
  const last = startCli(t, command.filter((arg, k) => arg !== '--every' && command[k - 1] !== '--every'));
  const final = await last.exit;
  t.is(final.code, 0, last.describe());
  t.regex(final.stderr, new RegExp(`writer: restored step ${previous.newest} from image ${imageId(JOB, previous.newest)}; content verified`));
  t.deepEqual(resultOf(t, final), await uninterruptedResult(WRITER, ARGS));
});

/**
 * Stops the run (SIGSTOP) while one of its image writes is unfinished: waits for a temp file,
 * stops the process, waits until every thread is stopped, and keeps it stopped if the temp file
 * is still there (else lets it go on and tries again). The caller then kills it.
 */
async function stopInsideWrite(run: CliProcess, store: string): Promise<void> {
  const pid = run.child.pid!;
  for (;;) {
    await run.waitUntil(() => listJobDir(store, JOB).temps.length > 0, 'an image write', HANG_GUARD_MS, 1);
    run.child.kill('SIGSTOP');
    await run.waitUntil(() => allThreadsStopped(pid), 'the stopped process', HANG_GUARD_MS, 1);
    if (listJobDir(store, JOB).temps.length > 0) return;
    run.child.kill('SIGCONT');
  }
}

/** Whether every thread of `pid` is in the stopped state (/proc/<pid>/task/<tid>/stat: 'T'). */
function allThreadsStopped(pid: number): boolean {
  const tasks = fs.readdirSync(`/proc/${pid}/task`);
  return tasks.every((tid) => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'T';
    } catch {
      return true; // the thread has ended
    }
  });
}

/** Checkpoints the run reported so far (-v). */
function checkpointCount(run: CliProcess): number {
  return checkpointMs(run).length;
}

/** How long each checkpoint the run reported (-v) took, ms. */
function checkpointMs(run: CliProcess): number[] {
  return [...run.stderr.matchAll(/^checkpoint writer-job-\d+: .* durable after ([\d.]+) (µs|ms|s)$/gm)].map(
    (m) => Number(m[1]) * (m[2] === 's' ? 1000 : m[2] === 'ms' ? 1 : 0.001),
  );
}

let mirrors = 0;

/** The checks of a store right after its writer was killed; `image verify` of the newest image runs on meanwhile. */
async function afterKill(t: ExecutionContext, run: CliProcess, store: string, links: string, codec: BlockCodec, kill: string): Promise<AfterKill> {
  const exit = await run.exit;
  t.is(exit.signal, 'SIGKILL', `${kill}: the writer was not killed\n${run.describe()}`);
  t.is(exit.stdout, '', `${kill}: a killed run prints no result`);

  const listing = listJobDir(store, JOB);
  t.deepEqual(listing.other, [], `${kill}: unexpected files in the job's directory`);
  const newest = listing.images.at(-1);
  if (!newest) throw new Error(`${kill}: no image left in the store`);
  for (const temp of listing.temps) {
    // Image n+1 is only begun once image n is committed; a temp of n itself is one killed between link and unlink.
    t.true(temp.sequence === newest.sequence || temp.sequence === newest.sequence + 1, `${kill}: temp file ${temp.file} next to newest image ${newest.sequence}`);
  }

  // The store opens, lists exactly the committed images, and its latest is the newest, whole.
  const opened = LocalStore.open({ dir: store });
  t.deepEqual(
    opened.list(JOB).map((e) => e.sequence),
    listing.images.map((e) => e.sequence),
    `${kill}: the store lists something else than the committed images`,
  );
  const latest = opened.latest(JOB, codec);
  try {
    t.is(latest?.entry.sequence, newest.sequence, `${kill}: the store's latest image is not the newest`);
    t.deepEqual(latest?.skipped.map((s) => `${s.entry.file}: ${s.error.message}`), [], `${kill}: an image was passed over`);
  } finally {
    latest?.reader.close();
  }

  // Hard links keep the images for `image verify` even if the next run prunes them meanwhile
  // (all of them, under their own names: an incremental image reads blocks of the ones before).
  const mirror = path.join(links, String(mirrors++));
  fs.mkdirSync(mirror);
  for (const image of listing.images) fs.linkSync(image.file, path.join(mirror, path.basename(image.file)));
  const verify = runCli(t, ['image', 'verify', path.join(mirror, path.basename(newest.file)), '--key-file', path.join(store, STORE_KEY_FILE)]);
  return { newest: newest.sequence, temps: listing.temps, verify };
}

async function checkVerified(t: ExecutionContext, after: AfterKill, kill: string): Promise<void> {
  const verify = await after.verify;
  t.is(verify.code, 0, `${kill}: image verify failed on image ${after.newest}\n${show(verify)}`);
  t.regex(verify.stdout, new RegExp(`^OK .*: image ${imageId(JOB, after.newest)}, .*verified`));
}

// The control experiment: the check above only means something if the writer's self-check on
// restore can fail. Here step 20 writes its stripe with step 21's values, so image 20 holds a
// region that does not match its state, exactly what a torn image would look like.
test('A restored image whose region does not match its state fails the writer\'s check on restore.', async (t) => {
  const store = tempDir(t, 'crash-control');
  const base = ['run', WRITER, '--store', store, '--every', '1', '--interval', '3600', '--retries', '0'];
  const torn = await runCli(t, [...base, '--args', JSON.stringify({ mib: 1, steps: 20, tearAt: 20 })]);
  t.is(torn.code, 0, show(torn));

  // The finished run is carried on for more steps from its last image: other args, so --from.
  const last = path.join(store, 'writer-job', '00000020.crimg');
  const restart = await runCli(t, [...base, '--args', JSON.stringify({ mib: 1, steps: 25 }), '--from', last]);
  t.is(restart.code, 1, show(restart));
  t.is(restart.stdout, '');
  // Stripe 19 of 32 (elements 77824 to 81919 of a 1 MiB region) holds step 21's values.
  t.regex(
    restart.stderr,
    /job "writer-job" failed after 1 attempt: torn image writer-job-00000020: region "data" element 77824 is [\d.e+-]+, not that of step 20 \(image at step 20\)/,
  );
});
