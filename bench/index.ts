// `npm run bench`: what a checkpoint costs, against a baseline measured in the same run
// (v8.serialize + fs.writeFileSync + fsync, and readFileSync + v8.deserialize for restart).
// Figures are medians of a few repetitions on a warm page cache, to be read against the
// references measured beside them in the same run. Flags: USAGE below.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { getCodec } from '../src/codec/index.js';
import { DEFAULT_BLOCK_SIZE } from '../src/image/format.js';
import type { BlockCodec } from '../src/codec/types.js';
import type { ImageCommitted } from '../src/job/context.js';
import { LocalStore } from '../src/store/local-store.js';
import { loadNative } from '../src/native/binding.js';
import { allocateRegion } from '../src/region.js';
import { DIRECT_CHUNK, DirectStaging, openDirect } from '../src/image/direct-sink.js';
import { copyOnWriteMode } from '../src/capture/cow.js';
import { COPY_PIECE_BYTES } from '../src/capture/staging.js';
import { fillSmoothField, smallObjects } from './data.js';
import { notDueInChild } from './not-due.js';
import { restartInChild, type ChildRestart } from './restart-child.js';
import { checkpointAndRestart, encodeOnlyMs, firstTouch, GiB, MiB, newContext, paired, take, warmStaging } from './measure.js';
import { median } from './stats.js';
import { benchEncoding } from './encoding.js';
import { benchHeat2d } from './heat2d.js';


interface Row {
  data: string;
  /** Region rows: a warm memcpy of the region and a first touch of as much fresh memory, next to each checkpoint. */
  memcpyMs?: number;
  firstTouchMs?: number;
  /** writeFileSync + fsync of the bytes of the last image, into a new file: the disk's durable write rate. */
  diskWriteMs?: number;
  /** The last image's bytes read past the page cache (O_DIRECT): the disk's own read of what a restart reads. */
  diskReadMs?: number;
  /** Encoding the region alone, as the image writer does (measure.ts encodeOnlyMs). */
  encodeMs?: number;
  /** Region rows: each staging pause over the warm memcpy measured next to it; median. */
  staging?: number;
  /** Region rows: each commit over the larger of its encodeMs and diskWriteMs, measured next to it; median. */
  overlap?: number;
  /** The same for what is left of each commit after its staging pause. */
  overlapAfterPause?: number;
  /** Whether huge pages backed the fresh memory of the first-touch reference. */
  firstTouchHuge?: boolean;
  /** Region rows: restarts in a new process each (bench/restart-child.ts), medians. */
  child?: { restartMs: number; userMs: number; systemMs: number; firstTouchMs: number; huge: boolean; ratio: number; diskRatio?: number };
  /** Object rows: v8.serialize of the same state alone, next to each checkpoint (the pause's anchor). */
  serializeMs?: number;
  /** Object rows: each pause over the v8.serialize measured next to it; median. */
  pauseOverSerialize?: number;
  /** Region rows: the region's own size (rawBytes also counts the small states every image holds, e.g. cr:clock). */
  regionBytes?: number;
  rawBytes: number;
  pauseMs: number;
  commitMs: number;
  imageBytes: number;
  restartMs: number;
  baseWriteMs: number;
  baseBytes: number;
  baseRestartMs: number;
}

/**
 * `file` read past the page cache (O_DIRECT, 8 MiB reads, two in flight, as the restart's two
 * threads read), ms; null where the file system refuses O_DIRECT.
 */
async function directReadMs(file: string): Promise<number | null> {
  const handle = await openDirect(file, fs.constants.O_RDONLY);
  if (handle === null) return null;
  const staging = new DirectStaging(2);
  try {
    const { size } = await handle.stat();
    const buffers = staging.buffers;
    const t0 = performance.now();
    const reads: Promise<unknown>[] = [Promise.resolve(), Promise.resolve()];
    for (let i = 0, position = 0; position < size; i++, position += DIRECT_CHUNK) {
      await reads[i % 2];
      // A read past the end returns what there is: the length stays aligned, as O_DIRECT needs.
      reads[i % 2] = handle.read(buffers[i % 2]!, 0, DIRECT_CHUNK, position);
    }
    await Promise.all(reads);
    return performance.now() - t0;
  } finally {
    await handle.close();
    staging.free();
  }
}

/** One writeFileSync of `bytes` into a new file, then fsync. */
function writeDurably(file: string, bytes: Uint8Array): void {
  const fd = fs.openSync(file, 'w');
  fs.writeFileSync(fd, bytes);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

/** The disk's own durable write of `bytes` into a new file (writeDurably), ms; the file is removed after. */
function diskWriteMs(dir: string, bytes: Uint8Array): number {
  const file = path.join(dir, 'disk-write.bin');
  const t0 = performance.now();
  writeDurably(file, bytes);
  const ms = performance.now() - t0;
  fs.rmSync(file);
  return ms;
}

/** v8.serialize + writeFileSync + fsync, then readFileSync + deserialize: what a job would do by hand. */
function baseline(dir: string, value: unknown): { writeMs: number; bytes: number; restartMs: number } {
  const file = path.join(dir, 'baseline.bin');
  const t0 = performance.now();
  const bytes = v8.serialize(value);
  writeDurably(file, bytes);
  const t1 = performance.now();
  const back = v8.deserialize(fs.readFileSync(file));
  const t2 = performance.now();
  if (back === undefined) throw new Error('baseline did not round-trip');
  fs.rmSync(file);
  return { writeMs: t1 - t0, bytes: bytes.length, restartMs: t2 - t1 };
}

async function benchRegion(codec: BlockCodec, dir: string, bytes: number, reps: number): Promise<Row> {
  const storeDir = path.join(dir, 'store');
  const store = LocalStore.open({ dir: storeDir, keepImages: 2 });
  const job = `region-${bytes}`;
  const ctx = newContext(codec, store, job);
  const field = ctx.region('field', Float64Array, bytes / 8);
  fillSmoothField(field);
  // Once, unmeasured: staging memory above 64 MiB is warmed by the writer thread after the first
  // checkpoint that needs it, which is written from the job's memory meanwhile.
  await warmStaging(ctx);
  // The machine's own limits, measured next to each checkpoint, so that each commit is held to
  // limits measured under the same load (this machine's disk and cores are shared, and their
  // rates move by 2× within minutes): a warm memcpy of the region (what the staging pause is held
  // against), a first touch of fresh region memory (the restart's), encoding the region alone as
  // the commit encodes it, and the disk's own writeFileSync + fsync of an image's bytes into a new
  // file. A commit that overlaps encoding, writing and fsync fully takes about the larger of the
  // last two.
  const scratch = allocateRegion('scratch', Float64Array, bytes / 8);
  scratch.bytes.fill(1);
  const imageBytes = fs.readFileSync(store.list(job).at(-1)!.file); // the warm-up's image: the same field, the same size
  const reference = { memcpy: [] as number[], firstTouch: [] as number[], huge: false, encode: [] as number[], diskWrite: [] as number[] };
  const { infos, restarts } = await checkpointAndRestart(
    codec,
    store,
    job,
    ctx,
    reps,
    (again) => {
      const back = again.region('field', Float64Array, bytes / 8);
      if (back[12345] !== field[12345]) throw new Error('restore mismatch');
    },
    async () => {
      const t0 = performance.now();
      scratch.bytes.set(new Uint8Array(field.buffer, field.byteOffset, field.byteLength));
      reference.memcpy.push(performance.now() - t0);
      const touch = firstTouch(bytes);
      reference.firstTouch.push(touch.ms);
      reference.huge = touch.huge;
      reference.encode.push(await encodeOnlyMs(codec, new Uint8Array(field.buffer, field.byteOffset, field.byteLength)));
      reference.diskWrite.push(diskWriteMs(dir, imageBytes));
    },
  );
  scratch.free();
  // The same restart in a new process each time, as a restarted job's process runs it, each next
  // to the disk's own read of the image past the page cache (the writer wrote it with O_DIRECT,
  // and nothing here reads it through the cache): the restart cannot take less than that read.
  const probe = 12345;
  const latest = store.list(job).at(-1)!;
  const children: (ChildRestart & { diskReadMs: number | null })[] = [];
  for (let r = 0; r < reps; r++) {
    const [child, diskReadMs] = await paired(r, () => restartInChild(codec.name, storeDir, job, bytes, probe, field[probe]!), () => directReadMs(latest.file));
    children.push({ ...child, diskReadMs });
  }
  const withRead = children.filter((c) => c.diskReadMs !== null);
  const diskReads = withRead.map((c) => c.diskReadMs!);
  // Each commit against the limits measured next to it (reps pairs: the median of the ratios).
  const bounds = infos.map((_, r) => Math.max(reference.encode[r]!, reference.diskWrite[r]!));
  const copy = new Float64Array(field); // the baseline serializes a JS-heap copy, as a job would
  await ctx.close();
  const base = [];
  for (let r = 0; r < reps; r++) base.push(baseline(dir, copy));
  return {
    ...row(`float64 field ${bytes >= GiB ? `${bytes / GiB} GiB` : `${bytes / MiB} MiB`}`, infos, restarts, base),
    memcpyMs: median(reference.memcpy),
    firstTouchMs: median(reference.firstTouch),
    diskWriteMs: median(reference.diskWrite),
    diskReadMs: diskReads.length > 0 ? median(diskReads) : undefined,
    encodeMs: median(reference.encode),
    staging: median(infos.map((info, r) => info.pauseMs / reference.memcpy[r]!)),
    overlap: median(infos.map((info, r) => info.totalMs / bounds[r]!)),
    overlapAfterPause: median(infos.map((info, r) => (info.totalMs - info.pauseMs) / bounds[r]!)),
    firstTouchHuge: reference.huge,
    child: {
      restartMs: median(children.map((c) => c.restartMs)),
      userMs: median(children.map((c) => c.userMs)),
      systemMs: median(children.map((c) => c.systemMs)),
      firstTouchMs: median(children.map((c) => c.firstTouchMs)),
      huge: children.every((c) => c.huge),
      // Each restart against the first touch in its own process, and against the disk's read next to it.
      ratio: median(children.map((c) => c.restartMs / c.firstTouchMs)),
      diskRatio: withRead.length > 0 ? median(withRead.map((c) => c.restartMs / c.diskReadMs!)) : undefined,
    },
    regionBytes: bytes,
  };
}

/** A full garbage collection, on call: V8's gc, exposed for the bench without a command-line flag. */
function fullGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

async function benchObjects(codec: BlockCodec, dir: string, count: number, reps: number): Promise<Row> {
  const store = LocalStore.open({ dir: path.join(dir, 'store'), keepImages: 2 });
  const job = 'objects';
  const ctx = newContext(codec, store, job);
  const particles = ctx.state('particles', smallObjects(count));
  // Once, unmeasured, as for a region: the staging memory its v8 stream is copied into is warmed
  // by the writer thread after the first checkpoint that needs it.
  await warmStaging(ctx);
  // The pause's anchor, measured next to each checkpoint: v8.serialize of the same state alone.
  // Each of the two starts on a collected heap: whichever ran second otherwise paid for the
  // collection of the 80 MB the first left behind, which decided the ratio (1.5× either way).
  const serializeMs: number[] = [];
  const collect = fullGc();
  const { infos, restarts } = await checkpointAndRestart(
    codec,
    store,
    job,
    ctx,
    reps,
    (again) => {
      if (again.state('particles', [] as typeof particles).length !== count) throw new Error('restore mismatch');
    },
    () => {
      collect();
      const t0 = performance.now();
      v8.serialize(particles);
      serializeMs.push(performance.now() - t0);
      collect();
    },
  );
  await ctx.close();
  const base = [];
  for (let r = 0; r < reps; r++) base.push(baseline(dir, particles));
  return {
    ...row(`${count.toExponential(0).replace('+', '')} small objects`, infos, restarts, base),
    serializeMs: median(serializeMs),
    pauseOverSerialize: median(infos.map((info, r) => info.pauseMs / serializeMs[r]!)),
  };
}

function printObjectTargets(objects: Row): void {
  console.log(`\ntargets, ${objects.data}, this run:`);
  console.log(
    `  pause ${fmtMs(objects.pauseMs)} ms vs v8.serialize of the same state ${fmtMs(objects.serializeMs!)} ms: ${objects.pauseOverSerialize!.toFixed(2)}× (median of the pairs; target ≤ 1.0×); ` +
      `commit ${(objects.baseWriteMs / objects.commitMs).toFixed(2)}× the baseline (target ≥ 2×); restart ${(objects.baseRestartMs / objects.restartMs).toFixed(2)}× the baseline (target ≥ 1.5×)`,
  );
}

function row(data: string, infos: ImageCommitted[], restarts: number[], base: ReturnType<typeof baseline>[]): Row {
  return {
    data,
    rawBytes: infos[0]!.rawBytes,
    pauseMs: median(infos.map((i) => i.pauseMs)),
    commitMs: median(infos.map((i) => i.totalMs)),
    imageBytes: infos[0]!.bytes,
    restartMs: median(restarts),
    baseWriteMs: median(base.map((b) => b.writeMs)),
    baseBytes: base[0]!.bytes,
    baseRestartMs: median(base.map((b) => b.restartMs)),
  };
}

/** After a warm-up, images after 1% of the blocks changed, against `full` (the region row of the same size: full images). */
async function benchIncremental(codec: BlockCodec, dir: string, bytes: number, dirty: 'auto' | 'hash', full: Row): Promise<string> {
  const store = LocalStore.open({ dir: path.join(dir, `store-inc-${dirty}`), keepImages: 2 });
  const ctx = newContext(codec, store, 'inc', { fullEvery: 16, dirty });
  const field = ctx.region('field', Float64Array, bytes / 8);
  fillSmoothField(field);
  await warmStaging(ctx);
  const perBlock = DEFAULT_BLOCK_SIZE / 8;
  const blocks = bytes / DEFAULT_BLOCK_SIZE;
  const times: number[] = [];
  const pauses: number[] = [];
  let last: ImageCommitted | null = null;
  // Two unmeasured: a region is compared by hash until a hashed image found little changed, then armed.
  for (let r = 0; r < 5; r++) {
    for (let b = r; b < blocks; b += 100) field[b * perBlock + 11] += 1e-3; // 1% of the blocks
    last = await take(ctx);
    if (r < 2) continue;
    times.push(last.totalMs);
    pauses.push(last.pauseMs);
  }
  await ctx.close();
  const t = median(times);
  // The target is dirty tracking's: with block hashes every block is still read and hashed.
  const target = dirty === 'auto' ? ' (target ≤ 5%)' : '';
  return (
    `1% of blocks changed (${dirty === 'auto' ? 'dirty tracking' : 'block hashes, no target: every block is read and hashed'}): pause ${fmtMs(median(pauses))} ms, commit ${fmtMs(t)} ms and ${(last!.bytes / MiB).toFixed(1)} MiB ` +
    `vs full ${fmtMs(full.commitMs)} ms and ${(full.imageBytes / MiB).toFixed(1)} MiB: ${((100 * t) / full.commitMs).toFixed(1)}% of the time${target}, ` +
    `${((100 * last!.bytes) / full.imageBytes).toFixed(1)}% of the bytes`
  );
}

/**
 * Extra resident memory while a 4 GiB region is written from the job's memory (no staging):
 * the writer streams, so it holds a few blocks, not the image.
 */
async function benchMemory(codec: BlockCodec, dir: string): Promise<string> {
  const store = LocalStore.open({ dir: path.join(dir, 'store-mem'), keepImages: 1 });
  const ctx = newContext(codec, store, 'mem', { stagingBudgetBytes: 0 });
  const bytes = 4 * GiB;
  const region = ctx.region('big', Float64Array, bytes / 8);
  for (let i = 0; i < region.length; i += 512) region[i] = i; // touch every page: all of it is resident
  const before = process.memoryUsage.rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
  const info = await ctx.checkpoint({ force: true, durable: true });
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  await ctx.close();
  if (!info?.durable) throw new Error('the 4 GiB checkpoint was not durable');
  return `4 GiB region written from the job's memory: ${((peak - before) / MiB).toFixed(0)} MiB of extra resident memory at the peak (target < 100 MiB), ${fmtMs(info.totalMs)} ms`;
}

function printTargets(region: Row): void {
  const reference = { firstTouchMs: region.firstTouchMs!, memcpyMs: region.memcpyMs! };
  const bytes = region.regionBytes ?? region.rawBytes;
  const size = bytes >= GiB ? `${bytes / GiB} GiB` : `${bytes / MiB} MiB`;
  const gbps = (ms: number): string => `${(bytes / 1e9 / (ms / 1000)).toFixed(2)} GB/s`;
  console.log(`
targets, ${size} float64 field, this run:`);
  console.log(`  committed full image: ${gbps(region.commitMs)} (target ≥ 1 GB/s), ${(region.baseWriteMs / region.commitMs).toFixed(2)}× the v8.serialize + writeFileSync + fsync baseline (target ≥ 2.5×)`);
  if (region.diskWriteMs !== undefined) {
    console.log(
      `    the disk here: writeFileSync + fsync of the image's ${(region.imageBytes / MiB).toFixed(1)} MiB took ${fmtMs(region.diskWriteMs)} ms ` +
        `(${((region.imageBytes / 1e9) / (region.diskWriteMs / 1000)).toFixed(2)} GB/s; ${gbps(region.diskWriteMs)} of region data at this ratio)`,
    );
  }
  if (region.overlap !== undefined && region.overlapAfterPause !== undefined) {
    console.log(
      `  commit overlap: ${fmtMs(region.commitMs)} ms against the larger of encoding alone (${fmtMs(region.encodeMs!)} ms, two threads) and the disk's write + fsync (${fmtMs(region.diskWriteMs!)} ms), ` +
        `each commit against those measured next to it: ${region.overlap.toFixed(2)}× (median of the pairs; target ≤ 1.15×)`,
    );
    // The commit above starts at the call, so it holds the job's staging pause, which comes before
    // any encoding or writing can: what the pipeline itself takes is the rest.
    console.log(
      `    of which the job's staging pause ${fmtMs(region.pauseMs)} ms (the writer encodes and writes during it), and after it ${fmtMs(region.commitMs - region.pauseMs)} ms: ` +
        `${region.overlapAfterPause.toFixed(2)}× that larger`,
    );
  }
  // The restart the targets are held to runs in a new process, as a restarted job's does; the one
  // in this process (the table's) follows the bench's own gigabytes of allocations, and the host's
  // backing of fresh guest memory swung it by 2x between runs.
  const child = region.child!;
  const touchKind = (huge: boolean): string => (huge ? 'huge pages' : '4 KiB pages: no transparent huge pages');
  console.log(
    `  restart in a new process, as a restarted job runs it: ${fmtMs(child.restartMs)} ms, ${gbps(child.restartMs)} (target ≥ 4 GB/s); ` +
      `a first touch of as much fresh memory in that process ${gbps(child.firstTouchMs)} (${touchKind(child.huge)}): the restart takes ${child.ratio.toFixed(2)}× it (target ≤ 1.5×); ` +
      `CPU user ${fmtMs(child.userMs)} ms, system ${fmtMs(child.systemMs)} ms`,
  );
  if (region.diskReadMs !== undefined && child.diskRatio !== undefined) {
    console.log(
      `    the disk here: reading the image's ${(region.imageBytes / MiB).toFixed(1)} MiB past the page cache (O_DIRECT, as cold as the restart found it) took ${fmtMs(region.diskReadMs)} ms ` +
        `(${((region.imageBytes / 1e9) / (region.diskReadMs / 1000)).toFixed(2)} GB/s; ${gbps(region.diskReadMs)} of region data at this ratio): ` +
        `each restart takes ${child.diskRatio.toFixed(2)}× the disk's read next to it (median of the pairs)`,
    );
  } else {
    console.log(`    this file system has no direct I/O: the restarts read the image through the page cache, warm after the first`);
  }
  console.log(
    `    the same restart in this process (the table's), after the bench's own allocations: ${gbps(region.restartMs)}, ${(region.restartMs / reference.firstTouchMs).toFixed(2)}× a first touch here (${gbps(reference.firstTouchMs)}, ${touchKind(region.firstTouchHuge ?? false)})`,
  );
  console.log(
    `  staging pause (every block staged, ${stagingCopy(bytes)}): ${fmtMs(region.pauseMs)} ms vs a warm memcpy of the same bytes on one thread ${fmtMs(reference.memcpyMs)} ms: ` +
      `${region.staging!.toFixed(2)}× (median of the pairs; target ≤ 1.5×)`,
  );
}

/**
 * Copy-on-write on a `bytes` field, after staging memory is warm: the pause inside checkpoint()
 * per GiB, and what the job pays during the flush: a sweep over the whole field (read, compute,
 * write every element) started right after the safe point, against the same sweep over an
 * unprotected region of the same size measured next to it.
 */
async function benchCow(codec: BlockCodec, dir: string, bytes: number, reps: number): Promise<string[]> {
  const { binding } = loadNative();
  if (!binding || !copyOnWriteMode().available) return [`  copy-on-write: unavailable here (${copyOnWriteMode().reason ?? 'no addon'})`];
  const store = LocalStore.open({ dir: path.join(dir, 'store-cow'), keepImages: 2 });
  const ctx = newContext(codec, store, 'cow', { capture: 'cow' });
  const field = ctx.region('field', Float64Array, bytes / 8);
  fillSmoothField(field);
  await warmStaging(ctx);
  const plain = allocateRegion('plain', Float64Array, bytes / 8);
  const plainArray = plain.array as Float64Array;
  plainArray.set(field);
  const sweep = (a: Float64Array): number => {
    const t0 = performance.now();
    for (let i = 0; i < a.length; i++) a[i] = a[i]! * 0.999 + 1e-3;
    return performance.now() - t0;
  };
  const touch = (a: Float64Array): number => {
    const t0 = performance.now();
    for (let i = 0; i < a.length; i += 512) a[i] = a[i]! + 1;
    return performance.now() - t0;
  };
  const r = { pause: [] as number[], during: [] as number[], plain: [] as number[], flush: [] as number[], touchDuring: [] as number[], touchPlain: [] as number[], outrun: [] as number[], written: [] as number[], staged: [] as number[], stagedPause: [] as number[] };
  // The same sweep right after a staged checkpoint of the same field: the image is encoded in the
  // background then too, so the difference is what copy-on-write itself costs the job.
  const stagedStore = LocalStore.open({ dir: path.join(dir, 'store-cow-staged'), keepImages: 2 });
  const stagedCtx = newContext(codec, stagedStore, 'staged', { capture: 'stage', dirty: 'hash' });
  const stagedField = stagedCtx.region('field', Float64Array, bytes / 8);
  stagedField.set(field);
  await warmStaging(stagedCtx);
  for (let k = 0; k < reps; k++) {
    const info = await stagedCtx.checkpoint({ force: true });
    if (!info || info.durable) throw new Error('the staged checkpoint was not staged');
    r.stagedPause.push(info.pauseMs);
    r.staged.push(sweep(stagedField));
    await info.committed;
  }
  await stagedCtx.close();
  for (let k = 0; k < reps; k++) {
    for (const kind of ['sweep', 'touch'] as const) {
      const run = kind === 'sweep' ? sweep : touch;
      (kind === 'sweep' ? r.plain : r.touchPlain).push(run(plainArray));
      const info = await ctx.checkpoint({ force: true });
      if (!info || info.durable) throw new Error('the copy-on-write checkpoint was not staged');
      r.pause.push(info.pauseMs);
      (kind === 'sweep' ? r.during : r.touchDuring).push(run(field));
      await info.committed;
      const stats = binding.cowStats(field.buffer as ArrayBuffer)!;
      r.flush.push(stats.flushMs);
      r.outrun.push(stats.faultCopies / Math.max(1, stats.flushBlocks));
      r.written.push(stats.flushWritten / Math.max(1, stats.flushBlocks));
    }
  }
  plain.free();
  await ctx.close();
  const gib = bytes / GiB;
  const size = bytes >= GiB ? `${gib} GiB` : `${bytes / MiB} MiB`;
  return [
    `  copy-on-write pause: ${fmtMs(median(r.pause))} ms for ${size}, ${fmtMs(median(r.pause) / gib)} ms/GiB (target ≤ 20 ms/GiB); the flush then took ${fmtMs(median(r.flush))} ms in the background`,
    `  staging, same field and run: pause ${fmtMs(median(r.stagedPause))} ms, ${fmtMs(median(r.stagedPause) / gib)} ms/GiB (${(median(r.stagedPause) / median(r.pause)).toFixed(1)}× the copy-on-write pause)`,
    `  copy-on-write, job during the flush: a sweep over the field ${fmtMs(median(r.during))} ms vs ${fmtMs(median(r.plain))} ms unprotected (${(median(r.during) / median(r.plain)).toFixed(2)}×) ` +
      `and ${fmtMs(median(r.staged))} ms right after a staged checkpoint (${(median(r.during) / median(r.staged)).toFixed(2)}×); ` +
      `one write per page ${fmtMs(median(r.touchDuring))} ms vs ${fmtMs(median(r.touchPlain))} ms (${(median(r.touchDuring) / median(r.touchPlain)).toFixed(2)}×); ` +
      `blocks the job wrote during the flush: ${(100 * median(r.written)).toFixed(0)}%, before the flush saved them: ${(100 * median(r.outrun)).toFixed(0)}%`,
  ];
}

/** How the staging copy of `bytes` ran: the reference memcpy is one thread, the staging copy may not be. */
function stagingCopy(bytes: number): string {
  const { binding } = loadNative();
  if (!binding) return 'copied by the job\'s thread';
  const pieces = `${COPY_PIECE_BYTES / MiB} MiB at a time while the image writer encodes those before`;
  if (bytes < binding.copyParallelBytes || binding.threads < 2) return `copied on the job's thread ${pieces}`;
  return `copied on the job's thread and the addon's ${binding.threads}, ${pieces}`;
}

const fmtMB = (bytes: number, ms: number): string => `${((bytes / 1e6) / (ms / 1000)).toFixed(0)} MB/s`;
const fmtMs = (ms: number): string => (ms < 10 ? ms.toFixed(2) : ms.toFixed(0));

function printTable(rows: Row[]): void {
  const header = ['data', 'pause ms', 'commit ms', 'commit rate', 'image', 'ratio', 'restart ms', 'restart rate', 'base write ms', 'base rate', 'base restart ms', 'commit ×base', 'restart ×base'];
  const cells = rows.map((r) => [
    r.data,
    fmtMs(r.pauseMs),
    fmtMs(r.commitMs),
    fmtMB(r.rawBytes, r.commitMs),
    `${(r.imageBytes / MiB).toFixed(1)} MiB`,
    (r.rawBytes / r.imageBytes).toFixed(2),
    fmtMs(r.restartMs),
    fmtMB(r.rawBytes, r.restartMs),
    fmtMs(r.baseWriteMs),
    fmtMB(r.rawBytes, r.baseWriteMs),
    fmtMs(r.baseRestartMs),
    `${(r.baseWriteMs / r.commitMs).toFixed(2)}×`,
    `${(r.baseRestartMs / r.restartMs).toFixed(2)}×`,
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((r) => r[c]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of cells) console.log(line(r));
}

/** heat2d's runs: 1 GiB in two grids and a checkpoint every 5 s; --quick 64 MiB every 0.5 s. */
const HEAT2D = { quick: { n: 2048, steps: 300, interval: 0.5, pairs: 3 }, full: { n: 8192, steps: 150, interval: 5, pairs: 5 } };

const USAGE = `usage: npm run bench -- [options]

What a checkpoint costs, each figure beside its baseline and the machine's limits measured in the
same run (docs/performance.md). Without options, every section: the region and small-object rows,
copy-on-write, incremental images, encoding against Blosc and zstd, heat2d, memory.

  --quick            a 64 MiB field and shorter runs
  --regions          only the region rows and their targets
  --objects          only the 10^6 small-objects row and its targets
  --cow              only the copy-on-write lines
  --encoding         only encoding and decoding against native Blosc and zstd's CLI
  --heat2d           only the real job (heat2d, with checkpoints against without)
  --scaling          the growth curves (bench/scaling.ts), plotted to --plot FILE (scaling.svg);
                     --states: only the number of states
  --cluster          the cluster: submit to result through a scheduler and agents
                     (--transfer: only the image transfer)
  --ha               standby schedulers, placement and reads on SQLite and PostgreSQL, image stores
  --portable         the portable (WebAssembly) codec instead of the addon
  -h, --help         this text`;

function options() {
  try {
    return parseArgs({
      options: {
        quick: { type: 'boolean' },
        regions: { type: 'boolean' },
        objects: { type: 'boolean' },
        cow: { type: 'boolean' },
        encoding: { type: 'boolean' },
        heat2d: { type: 'boolean' },
        scaling: { type: 'boolean' },
        plot: { type: 'string' },
        states: { type: 'boolean' },
        cluster: { type: 'boolean' },
        transfer: { type: 'boolean' },
        ha: { type: 'boolean' },
        portable: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
}

const opts = options();

async function main(): Promise<void> {
  if (opts.help) return console.log(USAGE);
  const quick = opts.quick === true;
  if (opts.cluster) return (await import('./cluster.js')).benchCluster(quick, opts.transfer === true);
  if (opts.ha) {
    await (await import('./ha-failover.js')).benchHaFailover();
    await (await import('./ha-placement.js')).benchPlacement(quick);
    return (await import('./image-store.js')).benchImageStore(quick);
  }
  const codec = await getCodec({ prefer: opts.portable ? 'portable' : 'native' });
  const dir = fs.mkdtempSync(path.join(process.env.CR_BENCH_DIR ?? os.tmpdir(), 'cr-bench-'));
  try {
    await benchLibrary(codec, dir, quick);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The library's sections (all of them, or the one a flag names), in `dir`, which main removes after. */
async function benchLibrary(codec: BlockCodec, dir: string, quick: boolean): Promise<void> {
  if (opts.scaling) {
    return (await import('./scaling.js')).benchScaling(codec, dir, quick, opts.plot ?? 'scaling.svg', opts.states === true);
  }
  if (opts.heat2d) {
    // Only the real job: wall time and extra CPU per image by thread.
    console.log((await benchHeat2d(dir, HEAT2D[quick ? 'quick' : 'full'])).join('\n'));
    return;
  }
  if (opts.encoding) {
    console.log((await benchEncoding(quick ? 64 * MiB : 256 * MiB, 7)).join('\n'));
    return;
  }
  if (opts.cow) {
    // Only the copy-on-write lines (1 GiB field; 64 MiB with --quick).
    for (const line of await benchCow(codec, dir, quick ? 64 * MiB : GiB, 3)) console.log(line);
    return;
  }
  console.log(`cr bench: ${codec.description}; ${os.cpus().length} cores, Node ${process.version}; store in ${dir}`);
  console.log('pause = from the call to checkpoint() until its promise resolves; commit = until the image is durable (fsync + rename + dir fsync);');
  console.log('restart = find the latest image, open it (tag, manifest), decode and verify every block into new memory; base = v8.serialize + writeFileSync + fsync / readFileSync + deserialize\n');
  const rows: Row[] = [];
  if (opts.objects) {
    // Only the small-objects row and its targets.
    const objects = await benchObjects(codec, dir, quick ? 100_000 : 1_000_000, 5);
    printTable([objects]);
    printObjectTargets(objects);
    return;
  }
  rows.push(await benchRegion(codec, dir, 64 * MiB, 5));
  if (!quick) rows.push(await benchRegion(codec, dir, GiB, 5));
  // --regions: only the region rows and their targets (commit and restart rates), for measuring those.
  const regionsOnly = opts.regions === true;
  if (!regionsOnly) rows.push(await benchObjects(codec, dir, quick ? 100_000 : 1_000_000, 3));
  printTable(rows);
  const region = rows[quick ? 0 : 1]!;
  printTargets(region);
  if (regionsOnly) return;
  printObjectTargets(rows.at(-1)!);
  const fieldBytes = region.regionBytes ?? region.rawBytes;
  for (const line of await benchCow(codec, dir, fieldBytes, 3)) console.log(line);
  console.log(`\nincremental, ${fieldBytes / MiB} MiB field:`);
  console.log(`  ${await benchIncremental(codec, dir, fieldBytes, 'auto', region)}`);
  console.log(`  ${await benchIncremental(codec, dir, fieldBytes, 'hash', region)}`);
  console.log(`\nencoding vs Blosc:\n${(await benchEncoding(quick ? 64 * MiB : 256 * MiB, 7)).join('\n')}`);
  console.log(`\nreal job:\n  ${(await benchHeat2d(dir, HEAT2D[quick ? 'quick' : 'full'])).join('\n  ')}`);
  if (!quick) console.log(`\nmemory: ${await benchMemory(codec, dir)}`);
  const ns = notDueInChild(codec.name, dir);
  console.log(`\ncheckpoint() when not due: ${ns.toFixed(1)} ns per call (target < 100 ns)`);
}

await main();
