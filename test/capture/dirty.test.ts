import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getCodec } from '../../src/codec/index.js';
import { dirtyTrackingMode } from '../../src/capture/dirty.js';
import { RegionTracker } from '../../src/capture/tracker.js';
import { DEFAULT_BLOCK_SIZE, type Manifest } from '../../src/image/format.js';
import { ImageWriter } from '../../src/image/writer.js';
import { JobContext } from '../../src/job/context.js';
import { resolvePolicyOptions } from '../../src/policy.js';
import { allocateRegion } from '../../src/region.js';
import { RestoredImage } from '../../src/restore.js';
import { LocalStore } from '../../src/store/local-store.js';
import { layout } from './helpers.js';

const BLOCK = DEFAULT_BLOCK_SIZE;
const tracking = dirtyTrackingMode();

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-dirty-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function context(dir: string, dirty: 'auto' | 'hash', restore = false): Promise<{ ctx: JobContext; store: LocalStore }> {
  const codec = await getCodec();
  const store = LocalStore.open({ dir, keepImages: 10 });
  const writer = new ImageWriter({ codec, key: store.key, level: 1, blockSize: BLOCK, batchBlocks: 4, writerName: 'test' });
  const latest = restore ? store.latest('job', codec) : null;
  const ctx = new JobContext({
    job: 'job',
    attempt: 1,
    store,
    writer,
    restored: latest ? new RestoredImage(latest.reader) : null,
    policy: resolvePolicyOptions({ intervalMs: null }),
    fullEvery: 8,
    dirty,
    control: null,
    events: { progress: () => undefined, log: () => undefined, warning: () => undefined, checkpoint: () => undefined },
  });
  return { ctx, store };
}

/** Why no region tracker can be made here, or null: the tests that need one are skipped with it. */
const noTracker = ((): string | null => {
  const memory = allocateRegion('probe', Uint8Array, BLOCK);
  try {
    return RegionTracker.start(memory, BLOCK) ? null : `no region tracker here: ${tracking.reason ?? 'no reason given'}`;
  } finally {
    memory.free();
  }
})();

/** A test that needs a region tracker; skipped, saying why, where none can be made. */
function trackerTest(title: string, fn: (t: ExecutionContext) => void): void {
  if (noTracker === null) test(title, fn);
  else test.skip(`${title} [${noTracker}]`, fn);
}

test(`dirty tracking is ${tracking.mode} on this machine${tracking.reason ? ` (${tracking.reason})` : ''}`, (t) => {
  t.log(tracking.reason ?? 'userfaultfd async write-protect + PAGEMAP_SCAN');
  t.true(tracking.mode === 'uffd' || tracking.reason !== null, 'when tracking is off, the reason is given');
});

trackerTest('a tracker reports exactly the blocks written since the last capture, including writes by the kernel', (t) => {
  const memory = allocateRegion('r', Uint8Array, 8 * BLOCK);
  t.teardown(() => memory.free());
  const tracker = RegionTracker.start(memory, BLOCK);
  if (!tracker) return t.fail('no tracker, though the probe made one');
  arm(t, tracker);
  t.deepEqual([...tracker.capture()!], [0, 0, 0, 0, 0, 0, 0, 0], 'nothing written yet');
  tracker.committed();
  memory.bytes[3] = 1;
  memory.bytes[5 * BLOCK + 4095] = 1;
  memory.bytes[8 * BLOCK - 1] = 1;
  t.deepEqual([...tracker.capture()!], [1, 0, 0, 0, 0, 1, 0, 1]);
  tracker.committed();
  // read(2) into the region: the kernel writes the pages, and they count as written.
  const file = path.join(os.tmpdir(), `cr-dirty-${process.pid}`);
  fs.writeFileSync(file, Buffer.alloc(100, 9));
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, memory.bytes, 2 * BLOCK + 10, 100, 0);
  fs.closeSync(fd);
  fs.rmSync(file);
  t.deepEqual([...tracker.capture()!], [0, 0, 1, 0, 0, 0, 0, 0]);
  // A capture that is not committed (the checkpoint failed) keeps its blocks pending.
  memory.bytes[6 * BLOCK] = 2;
  t.deepEqual([...tracker.capture()!], [0, 0, 1, 0, 0, 0, 1, 0], 'blocks of the failed checkpoint stay pending');
});

test('the hashing fallback and the userfaultfd path produce the same images for the same writes', async (t) => {
  const runs: Record<'auto' | 'hash', Manifest['sections'][]> = { auto: [], hash: [] };
  const finals: Record<string, Float64Array> = {};
  for (const mode of ['auto', 'hash'] as const) {
    const dir = tempDir(t);
    const { ctx, store } = await context(dir, mode);
    const field = ctx.region('field', Float64Array, (10 * BLOCK) / 8);
    const progress = ctx.state('progress', { step: 0 });
    const perBlock = BLOCK / 8;
    for (let i = 0; i < field.length; i++) field[i] = Math.sin(i / 500);
    for (let step = 1; step <= 5; step++) {
      // Each step changes a different set of blocks: step s writes blocks s-1 and (3s mod 10).
      field[(step - 1) * perBlock + step] += step;
      field[((3 * step) % 10) * perBlock + 7] -= step;
      progress.step = step;
      await ctx.checkpoint({ force: true });
    }
    finals[mode] = field.slice();
    await ctx.close();
    runs[mode] = layout(store);
    const { ctx: again } = await context(dir, mode, true);
    t.deepEqual(again.region('field', Float64Array, finals[mode]!.length), finals[mode], `${mode} restores the last image`);
    await again.close();
  }
  t.deepEqual(runs.auto, runs.hash);
  t.true(runs.auto.slice(1).every((sections) => sections.some((s) => s.blocks.some((b) => b.length === 7))), 'images after the first are incremental');
});

test('a region written between checkpoints is restored with the values at the safe point', async (t) => {
  const dir = tempDir(t);
  const { ctx } = await context(dir, 'auto');
  const grid = ctx.region('grid', Int32Array, (4 * BLOCK) / 4);
  const state = ctx.state('s', { step: 0 });
  let snapshot = grid.slice();
  for (let step = 1; step <= 20; step++) {
    for (let k = 0; k < 50; k++) grid[(step * 7919 + k * 104729) % grid.length] = step * 1000 + k;
    state.step = step;
    if (step % 4 === 0) {
      await ctx.checkpoint({ force: true });
      snapshot = grid.slice();
    }
  }
  await ctx.close();
  const { ctx: again } = await context(dir, 'auto', true);
  t.deepEqual(again.state('s', { step: 0 }), { step: 20 });
  t.deepEqual(again.region('grid', Int32Array, snapshot.length), snapshot);
  await again.close();
});

trackerTest('a region written all over is disarmed, compared by hash, and armed again once hashing finds little changed', (t) => {
  const memory = allocateRegion('r', Uint8Array, 4 * BLOCK);
  t.teardown(() => memory.free());
  const tracker = RegionTracker.start(memory, BLOCK);
  if (!tracker) return t.fail('no tracker, though the probe made one');
  arm(t, tracker);
  memory.bytes[BLOCK + 1] = 1;
  t.deepEqual([...tracker.capture()!], [0, 1, 0, 0], 'an interval that wrote little');
  tracker.committed(0.25);
  memory.bytes.fill(1); // every block written: tracking would only cost faults
  t.deepEqual([...tracker.capture()!], [1, 1, 1, 1], 'the interval is still reported exactly');
  t.false(tracker.tracking, 'one interval that wrote most of the region disarms it');
  tracker.committed(1);
  // Unarmed, the writer compares hashes, so nothing is ever missed; a hashed image that found
  // little changed arms it again, after a wait.
  memory.bytes[0] = 2;
  let captures = 0;
  while (!tracker.tracking) {
    t.is(tracker.capture(), null);
    tracker.committed(0);
    t.true(++captures <= 5, 'armed again within 5 checkpoints');
  }
  t.true(captures > 1, 'not at once: a region that keeps being rewritten must not pay a fault per page every other interval');
  memory.bytes[2 * BLOCK + 5] = 3;
  t.deepEqual([...tracker.capture()!], [0, 0, 1, 0], 'exact again once armed');
});

trackerTest('a new region is compared by hash until a hashed image finds little changed', (t) => {
  const memory = allocateRegion('r', Uint8Array, 4 * BLOCK);
  t.teardown(() => memory.free());
  const tracker = RegionTracker.start(memory, BLOCK);
  if (!tracker) return t.fail('no tracker, though the probe made one');
  t.false(tracker.tracking, 'filling a new region costs no faults');
  t.is(tracker.capture(), null, 'the first image is full: compared by hash');
  tracker.committed(null);
  t.is(tracker.capture(), null, 'nothing measured yet: still hashed');
  tracker.committed(0.5);
  t.is(tracker.capture(), null, 'half the blocks changed: still hashed');
  t.false(tracker.tracking);
  tracker.committed(0.1);
  t.is(tracker.capture(), null, 'armed at this safe point, whose image is still hashed');
  t.true(tracker.tracking);
  memory.bytes[BLOCK] = 1;
  t.is(tracker.capture(), null, 'an image that was not committed leaves the tracker unsure: hashed again');
  tracker.committed(0);
  memory.bytes[3 * BLOCK] = 1;
  t.deepEqual([...tracker.capture()!], [0, 0, 0, 1]);
});

trackerTest('a region whose first armed interval wrote it all over (equal values rewritten) waits 64 checkpoints before it is armed again', (t) => {
  const memory = allocateRegion('r', Uint8Array, 4 * BLOCK);
  t.teardown(() => memory.free());
  const tracker = RegionTracker.start(memory, BLOCK);
  if (!tracker) return t.fail('no tracker, though the probe made one');
  arm(t, tracker);
  memory.bytes.fill(0); // the same zeros again: hashing saw nothing change, the kernel sees every page written
  t.deepEqual([...tracker.capture()!], [1, 1, 1, 1]);
  t.false(tracker.tracking);
  tracker.committed(0);
  let captures = 0;
  while (!tracker.tracking && captures < 100) {
    t.is(tracker.capture(), null);
    tracker.committed(0);
    captures++;
  }
  t.is(captures, 65, 'armed again at the 65th checkpoint after the disarm');
});

/** Brings a new tracker to the armed state: a hashed image that found nothing changed. */
function arm(t: ExecutionContext, tracker: RegionTracker): void {
  t.is(tracker.capture(), null);
  tracker.committed(0);
  t.is(tracker.capture(), null);
  tracker.committed(0);
  t.true(tracker.tracking);
}
