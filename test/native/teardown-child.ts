// One process of the teardown stress test (teardown.test.ts). Its main thread starts Worker
// threads that keep encodes (on both pools), restores (readBlocks from a file, decodeBlocks),
// large staged copies and copy-on-write flushes in flight, and ends them the way given in argv:
//   terminate    the main thread terminates every worker once each has work in flight
//   worker-exit  each worker calls process.exit() right as one of its encodes settles, so that
//                its environment goes while the pool thread that settled it is still finishing
//   main-exit    the main thread calls process.exit() with every worker's work in flight
// In every case the main thread then starts encodes of its own and calls process.exit() as one
// settles, with the others still on the pool. The parent checks only how the process ended.
import fs from 'node:fs';
import path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { loadNative, type NativeBinding } from '../../src/native/binding.js';
import { randomBytes, smoothField } from './data.js';

export type Ending = 'terminate' | 'worker-exit' | 'main-exit';

interface Options {
  ending: Ending;
  workers: number;
  seed: number;
  /** A directory for the restore files; the parent removes it. */
  dir: string;
}

const { binding, reason } = loadNative();
if (!binding) throw new Error(`native addon unavailable: ${reason}`);
const native: NativeBinding = binding;

const BLOCK = 16 * 1024;
/**
 * The staging memory and ready word of each flush started here: the addon holds no reference to
 * them, so, as the image writer does, the caller keeps them until the flush is over (here: for
 * good).
 */
const flushMemory: unknown[] = [];

/** Starts an encode of `bytes` in blocks of BLOCK and resolves with its output. */
function encode(bytes: Uint8Array, background: boolean): Promise<{ stored: Uint8Array; out: ReturnType<typeof newOut> }> {
  const n = Math.ceil(bytes.length / BLOCK);
  const stride = native.compressBound(BLOCK);
  const stored = new Uint8Array(n * stride);
  const out = newOut(n);
  return native.encodeBlocks(bytes, BLOCK, 8, 1, stored, stride, out, background, 1).then(() => ({ stored, out }));
}

function newOut(n: number) {
  return { storedLengths: new Uint32Array(n), flags: new Uint8Array(n), rawHashes: new BigUint64Array(n), storedHashes: new BigUint64Array(n) };
}

/** Keeps `lanes` encodes in flight from a region, each restarted when it settles; onSettled sees every settlement. */
function keepEncoding(lanes: number, seed: number, onSettled: () => void): void {
  const field = smoothField(256, 64, seed); // 128 KiB: 8 blocks
  const region = new Uint8Array(native.allocRegion(field.length));
  region.set(field);
  const lane = (k: number): void => {
    void encode(k % 2 === 0 ? region : field, k % 3 === 0).then(() => {
      onSettled();
      lane(k + lanes);
    });
  };
  for (let k = 0; k < lanes; k++) lane(k);
}

/** An encoded file to restore from, written once by this thread. */
async function restoreFile(file: string, seed: number) {
  const raw = smoothField(256, 32, seed);
  const { stored, out } = await encode(raw, false);
  const n = out.storedLengths.length;
  const stride = native.compressBound(BLOCK);
  fs.writeFileSync(file, stored);
  return {
    fd: fs.openSync(file, 'r'),
    raw,
    positions: Float64Array.from({ length: n }, (_, i) => i * stride),
    dstOffsets: Float64Array.from({ length: n }, (_, i) => i * BLOCK),
    rawLengths: Uint32Array.from({ length: n }, (_, i) => Math.min(BLOCK, raw.length - i * BLOCK)),
    out,
    stored,
  };
}

/** One restore from the file (readBlocks on the pool) and one from memory (decodeBlocks). */
function restore(r: Awaited<ReturnType<typeof restoreFile>>): void {
  const n = r.positions.length;
  const back = new Uint8Array(r.raw.length);
  const fds = new Int32Array(n).fill(r.fd);
  const failure = native.readBlocks(fds, r.positions, r.out.storedLengths, r.out.flags, r.out.storedHashes, r.out.rawHashes, back, r.dstOffsets, r.rawLengths, 8, 1);
  if (failure !== null || Buffer.compare(back, r.raw) !== 0) throw new Error(`readBlocks failed: ${JSON.stringify(failure)}`);
  const again = new Uint8Array(r.raw.length);
  const decoded = native.decodeBlocks(r.stored, r.positions, r.out.storedLengths, r.out.flags, r.out.storedHashes, r.out.rawHashes, again, r.dstOffsets, r.rawLengths, 8, 1);
  if (decoded !== null) throw new Error(`decodeBlocks failed: ${JSON.stringify(decoded)}`);
}

/**
 * Starts a copy-on-write flush of a region into staging memory and writes to the region while
 * it runs, so that the handler and flusher threads hold copies of this environment's memory.
 * Returns false where copy-on-write is unavailable.
 */
function cowFlushInFlight(seed: number): boolean {
  if (!native.cowSupport().available) return false;
  const page = native.pageSize;
  const bytes = 256 * page;
  const ab = native.allocRegion(bytes);
  const u8 = new Uint8Array(ab);
  u8.set(randomBytes(bytes, seed));
  const blocks = bytes / page;
  const staging = new Uint8Array(new SharedArrayBuffer(bytes));
  const pending = new Uint8Array(blocks);
  native.cowCapture(ab, page, pending);
  const ready = new Int32Array(new SharedArrayBuffer(4));
  flushMemory.push(staging, ready);
  native.cowFlush(ab, staging, Float64Array.from({ length: blocks }, (_, b) => b * page), ready);
  for (let at = 0; at < bytes; at += 3 * page) u8[at] = (u8[at]! + 1) & 0xff;
  return true;
}

/** A staged copy large enough to run on the pool's threads (copyBlocks splits it). */
function bigCopy(): void {
  const length = native.copyParallelBytes;
  const src = new Uint8Array(native.allocRegion(length));
  const dst = new Uint8Array(native.allocRegion(length));
  const slots = new Float64Array(Math.ceil(length / (1024 * 1024)));
  native.copyBlocks(src, 1024 * 1024, null, dst, 0, slots);
  native.freeRegion(src.buffer as ArrayBuffer);
  native.freeRegion(dst.buffer as ArrayBuffer);
}

/** Ends the process as soon as one of the encodes started here settles, the rest in flight. */
function exitMidEncode(seed: number): void {
  keepEncoding(4, seed, () => process.exit());
}

async function workerMain(o: Options & { index: number; bigCopy: boolean }): Promise<void> {
  const r = await restoreFile(path.join(o.dir, `restore-${o.index}`), o.seed);
  restore(r);
  if (o.bigCopy) bigCopy();
  cowFlushInFlight(o.seed);
  let settled = 0;
  keepEncoding(6, o.seed + 1, () => {
    settled++;
    if (settled === 1) parentPort!.postMessage('busy');
    if (o.ending === 'worker-exit' && settled === 3 + (o.seed % 5)) process.exit(0);
    if (settled % 4 === 0) restore(r);
  });
}

async function main(o: Options): Promise<void> {
  const workers: Worker[] = [];
  const busy: Promise<unknown>[] = [];
  const exited: Promise<unknown>[] = [];
  for (let index = 0; index < o.workers; index++) {
    const w = new Worker(new URL(import.meta.url), {
      // The staged copy touches copyParallelBytes (256 MiB): one worker in every tenth process.
      workerData: { ...o, index, seed: o.seed * 31 + index, bigCopy: index === 0 && o.seed % 10 === 0 },
    });
    workers.push(w);
    busy.push(new Promise((resolve) => w.once('message', resolve)));
    exited.push(new Promise((resolve) => w.once('exit', resolve)));
    w.on('error', (err) => {
      console.error(`worker ${index} failed: ${err.stack ?? String(err)}`);
      process.exitCode = 1;
    });
  }
  if (o.ending === 'worker-exit') {
    await Promise.all(exited);
  } else {
    await Promise.all(busy);
    if (o.ending === 'main-exit') {
      fs.writeSync(1, 'ended\n');
      process.exit();
    }
    await Promise.all(workers.map((w) => w.terminate()));
  }
  fs.writeSync(1, 'ended\n');
  cowFlushInFlight(o.seed + 7);
  exitMidEncode(o.seed + 3);
}

if (isMainThread) {
  await main(JSON.parse(process.argv[2]!) as Options);
} else {
  await workerMain(workerData as Options & { index: number; bigCopy: boolean });
}
