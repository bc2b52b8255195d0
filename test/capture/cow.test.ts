// Copy-on-write checkpoints through the job API (capture/cow.ts, capture/dirty.ts, the
// checkpointer and the image writer thread), and the per-region choice.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getCodec } from '../../src/codec/index.js';
import { copyOnWriteMode, COW_MAX_FAULT_SHARE, COW_MIN_BYTES, COW_RETRY_MAX, COW_RETRY_MIN, CowChoice, type CapturePreference } from '../../src/capture/cow.js';
import { DEFAULT_BLOCK_SIZE, type Manifest } from '../../src/image/format.js';
import { ImageWriter } from '../../src/image/writer.js';
import { JobContext } from '../../src/job/context.js';
import { loadNative } from '../../src/native/binding.js';
import { allocateRegion } from '../../src/region.js';
import { RegionTracker } from '../../src/capture/tracker.js';
import { layout, xorshift } from './helpers.js';
import { describeGrowth, markMemory, memoryGrowth, type MemoryMark } from '../memory.js';
import { resolvePolicyOptions } from '../../src/policy.js';
import { RestoredImage } from '../../src/restore.js';
import { LocalStore } from '../../src/store/local-store.js';

const BLOCK = DEFAULT_BLOCK_SIZE;
const MiB = 1024 * 1024;
const mode = copyOnWriteMode();
const cowTest = mode.available ? test : test.skip;
const { binding } = loadNative();

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-cow-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function context(dir: string, capture: CapturePreference, dirty: 'auto' | 'hash' = 'auto', restore = false, keepImages = 1000): Promise<{ ctx: JobContext; store: LocalStore; warnings: string[] }> {
  const codec = await getCodec();
  const store = LocalStore.open({ dir, keepImages });
  const writer = new ImageWriter({ codec, key: store.key, level: 1, blockSize: BLOCK, batchBlocks: 4, writerName: 'test' });
  const latest = restore ? store.latest('job', codec) : null;
  const warnings: string[] = [];
  const ctx = new JobContext({
    job: 'job',
    attempt: 1,
    store,
    writer,
    restored: latest ? new RestoredImage(latest.reader) : null,
    policy: resolvePolicyOptions({ intervalMs: null }),
    fullEvery: 8,
    dirty,
    capture,
    control: null,
    events: { progress: () => undefined, log: () => undefined, warning: (m) => warnings.push(m), checkpoint: () => undefined },
  });
  return { ctx, store, warnings };
}

/** The region `name` of the newest image in `store`. */
async function newest(store: LocalStore, name: string, length: number): Promise<Float64Array> {
  const latest = store.latest('job', await getCodec())!;
  const restored = new RestoredImage(latest.reader);
  try {
    const memory = restored.region(name, Float64Array, 'Float64Array', length);
    const copy = memory.array.slice() as Float64Array;
    memory.free();
    return copy;
  } finally {
    restored.close();
  }
}

// --- the choice -----------------------------------------------------------------------------

test('The choice: a large region starts in copy-on-write, a small one never in auto.', (t) => {
  t.true(new CowChoice('auto', COW_MIN_BYTES).next(null));
  t.false(new CowChoice('auto', COW_MIN_BYTES - 1).next(null));
  t.true(new CowChoice('cow', 4096).next(null), "'cow' takes every region");
  t.false(new CowChoice('stage', 1 << 30).next(null), "'stage' takes none");
});

test('The choice: a flush during which the job wrote few blocks keeps copy-on-write; one it wrote many during leaves it, with a doubling wait.', (t) => {
  const c = new CowChoice('auto', 1 << 30);
  t.true(c.next(null));
  const few = { flushBlocks: 1000, flushWritten: Math.floor(1000 * COW_MAX_FAULT_SHARE) - 1, faultCopies: 0 };
  const many = { flushBlocks: 1000, flushWritten: Math.ceil(1000 * COW_MAX_FAULT_SHARE), faultCopies: 0 };
  const outran = new CowChoice('auto', 1 << 30);
  outran.next(null);
  t.false(outran.next({ ...few, faultCopies: many.flushWritten }), 'outrunning the flush on many blocks counts too');
  t.true(c.next(few));
  t.true(c.next(null), 'no flush since (the checkpoint was not staged): no change');
  t.false(c.next(many));
  t.false(c.cow);
  let staged = 0;
  while (!c.next(null)) staged++;
  t.is(staged, COW_RETRY_MIN, 'staged for the minimum wait, then tried again');
  t.false(c.next(many));
  staged = 0;
  while (!c.next(null)) staged++;
  t.is(staged, 2 * COW_RETRY_MIN, 'the wait doubles');
  t.true(c.next(few), 'a good flush...');
  t.false(c.next(many));
  staged = 0;
  while (!c.next(null)) staged++;
  t.is(staged, COW_RETRY_MIN, '...reset it');
  for (let i = 0; i < 10; i++) {
    c.next(many);
    while (!c.next(null));
  }
  t.false(c.next(many));
  staged = 0;
  while (!c.next(null)) staged++;
  t.is(staged, COW_RETRY_MAX, 'the wait stops doubling at the maximum');
  t.true(c.next({ flushBlocks: 0, flushWritten: 0, faultCopies: 0 }), 'a flush with nothing to save says nothing');
});

test('CR_CAPTURE is checked: a bad value is a RangeError naming it; "stage" switches copy-on-write off.', (t) => {
  const probe = (value: string): string =>
    execFileSync(process.execPath, ['--input-type=module', '-e', `import { copyOnWriteMode } from ${JSON.stringify(new URL('../../src/capture/cow.js', import.meta.url).href)};
try { console.log(JSON.stringify(copyOnWriteMode())); } catch (e) { console.log(e.constructor.name + ': ' + e.message); }`], { encoding: 'utf8', env: { ...process.env, CR_CAPTURE: value } }).trim();
  t.regex(probe('sometimes'), /^RangeError: CR_CAPTURE must be "auto", "cow" or "stage", got "sometimes"/);
  t.deepEqual(JSON.parse(probe('stage')), { available: false, forced: 'stage', reason: 'switched off by CR_CAPTURE=stage' });
  if (mode.available) t.like(JSON.parse(probe('cow')), { available: true, forced: 'cow' });
});

// --- through the job API --------------------------------------------------------------------

cowTest('Copy-on-write images taken while the job keeps writing restore exactly the values at the safe point.', async (t) => {
  const dir = tempDir(t);
  const { ctx, store, warnings } = await context(dir, 'cow');
  const length = (24 * MiB + 4096) / 8;
  const field = ctx.region('field', Float64Array, length);
  const rand = xorshift(99);
  for (let i = 0; i < length; i++) field[i] = Math.sin(i / 1000);
  const perPage = 4096 / 8;
  let faultCopies = 0;
  for (let round = 0; round < 30; round++) {
    for (let k = rand(200); k > 0; k--) field[rand(length)] = round + k;
    const snapshot = field.slice();
    const info = await ctx.checkpoint({ force: true });
    t.truthy(info);
    t.false(info!.durable, 'staged: checkpoint() returned before the image was written');
    const stats = binding!.cowStats(field.buffer as ArrayBuffer);
    t.not(stats, null, 'the region is in copy-on-write mode');
    // The job goes on at once: random pages and a sweep from a random page, then a yield, while
    // the flush and the image writer run.
    const from = rand(length);
    for (let i = 0; i < 3000; i++) {
      field[rand(length)] = -round - i;
      field[(from + i * perPage) % length]! += 1;
    }
    await new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 500; i++) field[rand(length)] = i;
    const committed = await info!.committed;
    faultCopies += binding!.cowStats(field.buffer as ArrayBuffer)!.faultCopies;
    t.is(committed.sequence, info!.sequence);
    const saved = await newest(store, 'field', length);
    if (Buffer.compare(Buffer.from(saved.buffer), Buffer.from(snapshot.buffer)) !== 0) {
      t.fail(`round ${round}: the image differs from the values at the safe point`);
    }
  }
  t.log({ faultCopies });
  t.deepEqual(warnings, []);
  await ctx.close();
});

cowTest('Copy-on-write and staging write identical images for the same writes, incremental ones included.', async (t) => {
  const runs: Record<string, Manifest['sections'][]> = {};
  for (const capture of ['cow', 'stage'] as const) {
    const dir = tempDir(t);
    const { ctx, store } = await context(dir, capture);
    const field = ctx.region('field', Float64Array, (12 * BLOCK) / 8);
    const small = ctx.region('small', Float64Array, 1000);
    const progress = ctx.state('progress', { step: 0 });
    const perBlock = BLOCK / 8;
    for (let i = 0; i < field.length; i++) field[i] = Math.cos(i / 300);
    for (let step = 1; step <= 10; step++) {
      field[((step * 5) % 12) * perBlock + step] += step;
      field[((step * 7) % 12) * perBlock + 3 * step] -= step;
      small[step] = step;
      progress.step = step;
      const info = await ctx.checkpoint({ force: true });
      // Writes after the safe point belong to the next image in both runs.
      field[((step * 11) % 12) * perBlock] = -step;
      await info!.committed;
    }
    await ctx.close();
    runs[capture] = layout(store);
  }
  t.deepEqual(runs.cow, runs.stage);
  // Every 8th image is full (fullEvery 8).
  t.true(runs.cow!.slice(1, 8).every((sections) => sections.some((s) => s.blocks.some((b) => b.length === 7))), 'images 2 to 8 are incremental');
});

cowTest("With CR_DIRTY's hash preference, copy-on-write still writes the same images (every block saved and hashed).", async (t) => {
  const runs: Record<string, Manifest['sections'][]> = {};
  for (const capture of ['cow', 'stage'] as const) {
    const dir = tempDir(t);
    const { ctx, store } = await context(dir, capture, 'hash');
    const field = ctx.region('field', Float64Array, (6 * BLOCK) / 8);
    for (let step = 1; step <= 4; step++) {
      field[step * (BLOCK / 8) + step] = step;
      const info = await ctx.checkpoint({ force: true });
      field[0] = step;
      await info!.committed;
    }
    await ctx.close();
    runs[capture] = layout(store);
  }
  t.deepEqual(runs.cow, runs.stage);
});

cowTest('A region freed while its copy-on-write image is in flight still gets an exact image, and the job goes on.', async (t) => {
  const dir = tempDir(t);
  const { ctx, store } = await context(dir, 'cow');
  const field = ctx.region('field', Float64Array, (16 * MiB) / 8);
  for (let i = 0; i < field.length; i++) field[i] = i;
  const snapshot = field.slice();
  const info = await ctx.checkpoint({ force: true });
  field[12345] = -1;
  ctx.free('field');
  await info!.committed;
  t.deepEqual(await newest(store, 'field', snapshot.length), snapshot);
  await ctx.close();
});

// Serial: ava runs serial tests before the others, so no other test's memory is measured with it.
(mode.available ? test.serial : test.skip)('A loop of many copy-on-write checkpoints keeps resident memory flat.', async (t) => {
  const dir = tempDir(t);
  const { ctx } = await context(dir, 'cow', 'auto', false, 3);
  const field = ctx.region('field', Float64Array, (16 * MiB) / 8);
  const rand = xorshift(5);
  for (let i = 0; i < field.length; i++) field[i] = i;
  // Two windows of 200 checkpoints after 30 to warm up (test/memory.ts says why two): a leak of
  // 200 KiB per checkpoint, a fifth of one 1 MiB block, would add 40 MiB to each.
  const marks: MemoryMark[] = [];
  for (let i = 0; i < 430; i++) {
    if (i === 30 || i === 230) marks.push(markMemory());
    for (let k = 0; k < 20; k++) field[rand(field.length)] = i;
    const info = await ctx.checkpoint({ force: true });
    for (let k = 0; k < 20; k++) field[rand(field.length)] = -i;
    await info!.committed;
  }
  marks.push(markMemory());
  const growth = memoryGrowth(marks as [MemoryMark, MemoryMark, MemoryMark]);
  t.log(describeGrowth(growth, 200));
  t.true(growth.steady < 40 * MiB, describeGrowth(growth, 200));
  t.true(growth.arrayBuffers < MiB, describeGrowth(growth, 200));
  await ctx.close();
});

cowTest('In auto, a large region starts in copy-on-write and every image stays exact while the job outruns the flush backwards.', async (t) => {
  const dir = tempDir(t);
  const { ctx, store, warnings } = await context(dir, 'auto');
  const length = COW_MIN_BYTES / 8;
  const field = ctx.region('field', Float64Array, length);
  for (let i = 0; i < length; i += 97) field[i] = i;
  const perPage = 4096 / 8;
  const modes: string[] = [];
  for (let round = 0; round < 14; round++) {
    field[(round * 7919) % length] = round;
    const snapshot = field.slice();
    const info = await ctx.checkpoint({ force: true });
    const cow = binding!.cowStats(field.buffer as ArrayBuffer) !== null;
    modes.push(cow ? 'cow' : 'stage');
    // From the end backwards: the flush goes forwards, so the job gets to most blocks first.
    for (let i = length - 1; i >= 0; i -= perPage) field[i]! += 1;
    await info!.committed;
    if (Buffer.compare(Buffer.from((await newest(store, 'field', length)).buffer), Buffer.from(snapshot.buffer)) !== 0) {
      t.fail(`round ${round} (${modes.at(-1)}): the image differs from the values at the safe point`);
    }
  }
  t.log(modes.join(' '));
  // Whether the job outruns enough flushes to leave depends on the machine's load: the
  // transitions themselves are checked with a scripted choice below.
  t.is(modes[0], 'cow', 'a large region starts in copy-on-write');
  t.deepEqual(warnings, []);
  await ctx.close();
});

cowTest('Across scripted moves between copy-on-write and hashed staging, each capture reports the blocks written since the last one, or is hashed where nothing recorded them.', (t) => {
  const blocks = 8;
  const memory = allocateRegion('r', Uint8Array, blocks * BLOCK);
  // cow from unarmed, cow, leave (to hashing, not to async tracking: see RegionTracker's
  // #leaveCow), stay (hashed), cow from unarmed (hashed), cow, leave, stay (hashed), cow (hashed).
  const script = [true, true, false, false, true, true, false, false, true];
  const hashed = [true, false, false, true, true, false, false, true, true];
  let step = 0;
  const tracker = RegionTracker.start(memory, BLOCK, 'auto', { next: () => script[step]! })!;
  const rand = xorshift(17);
  const seen: string[] = [];
  for (; step < script.length; step++) {
    const written = new Uint8Array(blocks);
    for (let k = 1 + rand(4); k > 0; k--) {
      const b = rand(blocks);
      memory.bytes[b * BLOCK + rand(BLOCK)]! += 1;
      written[b] = 1;
    }
    const changed = tracker.capture();
    seen.push(`${script[step] ? 'cow' : 'stage'}:${changed === null ? 'hashed' : 'known'}`);
    if (hashed[step]) t.is(changed, null, `capture ${step + 1} is hashed: nothing recorded the writes before it`);
    // 2 (maybe written: let in ahead of a sequential writer) may stand for either.
    else t.deepEqual(changed && [...changed].map((c, b) => (c === 2 ? written[b] : c)), [...written], `capture ${step + 1}`);
    t.is(tracker.copyOnWrite, script[step]);
    tracker.committed(null);
  }
  t.log(seen.join(' '));
  memory.free();
});

cowTest('A region of plain memory gets no tracker; with the hash preference, a copy-on-write capture is hashed.', (t) => {
  const memory = allocateRegion('r', Uint8Array, BLOCK);
  t.is(RegionTracker.start({ ...memory, native: false }, BLOCK, 'hash', 'cow'), null);
  t.is(RegionTracker.start(memory, BLOCK, 'hash', 'stage'), null, "hash + stage: nothing to track");
  const tracker = RegionTracker.start(memory, BLOCK, 'hash', 'cow')!;
  t.is(tracker.capture(), null, 'hashed');
  t.true(tracker.copyOnWrite);
  memory.free();
});
