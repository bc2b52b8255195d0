import os from 'node:os';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import fs, { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import { createXXHash3, createXXHash64 } from 'hash-wasm';
import { BLOCK_FLAG_PLANES, BLOCK_FLAG_SHUFFLE, BLOCK_FLAG_ZSTD, NATIVE_ABI_VERSION, SIMD_PATHS, loadNative, nativeAddonFile } from '../../src/native/binding.js';
import type { NativeBinding, NativeEncodeOut } from '../../src/native/binding.js';
import { randomBytes, smoothField } from './data.js';

// Diagnostics the addon exports beyond the contract, for these tests only.
type TestBinding = NativeBinding & { _addressOf(buffer: ArrayBuffer | ArrayBufferView): bigint };

const { binding: loaded, reason } = loadNative();
if (!loaded) throw new Error(`the native addon must build and load for these tests: ${reason}`);
const native = loaded as TestBinding;

const MiB = 1024 * 1024;
// dist/test/native/ → <package root>/build/Release/cr_native.node, as the loader finds it.
const addonFile = nativeAddonFile();

interface ZstdSimple {
  compress(data: Uint8Array, level?: number): Uint8Array;
  decompress(data: Uint8Array): Uint8Array;
}
interface ZstdCodecModule {
  ZstdCodec: { run(cb: (zstd: { Simple: new () => ZstdSimple }) => void): void };
}
const { ZstdCodec } = createRequire(import.meta.url)('zstd-codec') as ZstdCodecModule;
function withZstdCodec(): Promise<ZstdSimple> {
  return new Promise((resolve) => ZstdCodec.run((zstd) => resolve(new zstd.Simple())));
}

/** The byte-plane shuffle of docs/image-format.md, written the slow and obvious way. */
function referenceShuffle(src: Uint8Array, es: number): Uint8Array {
  const n = Math.floor(src.length / es);
  const out = new Uint8Array(src.length);
  for (let i = 0; i < n; i++) for (let b = 0; b < es; b++) out[b * n + i] = src[i * es + b]!;
  out.set(src.subarray(n * es), n * es);
  return out;
}

/** zstd's ZSTD_COMPRESSBOUND. */
function zstdBound(n: number): number {
  return n + Math.floor(n / 256) + (n < 128 * 1024 ? Math.floor((128 * 1024 - n) / 2048) : 0);
}

interface Encoded {
  n: number;
  stride: number;
  stored: Uint8Array;
  out: NativeEncodeOut;
  srcOffsets: Float64Array;
  dstOffsets: Float64Array;
  rawLengths: Uint32Array;
}

function newOut(n: number): NativeEncodeOut {
  return {
    storedLengths: new Uint32Array(n),
    flags: new Uint8Array(n),
    rawHashes: new BigUint64Array(n),
    storedHashes: new BigUint64Array(n),
  };
}

async function encode(src: Uint8Array, blockSize: number, es: number, level = 1): Promise<Encoded> {
  const n = Math.ceil(src.length / blockSize);
  const stride = native.compressBound(blockSize);
  const stored = new Uint8Array(n * stride);
  const out = newOut(n);
  await native.encodeBlocks(src, blockSize, es, level, stored, stride, out, false, 1);
  return {
    n,
    stride,
    stored,
    out,
    srcOffsets: Float64Array.from({ length: n }, (_, i) => i * stride),
    dstOffsets: Float64Array.from({ length: n }, (_, i) => i * blockSize),
    rawLengths: Uint32Array.from({ length: n }, (_, i) => Math.min(blockSize, src.length - i * blockSize)),
  };
}

function decode(e: Encoded, dst: Uint8Array, es: number, over: Partial<Encoded & NativeEncodeOut> = {}) {
  return native.decodeBlocks(
    over.stored ?? e.stored,
    over.srcOffsets ?? e.srcOffsets,
    over.storedLengths ?? e.out.storedLengths,
    over.flags ?? e.out.flags,
    over.storedHashes ?? e.out.storedHashes,
    over.rawHashes ?? e.out.rawHashes,
    dst,
    over.dstOffsets ?? e.dstOffsets,
    over.rawLengths ?? e.rawLengths,
    es, 1,
  );
}

/** Byte equality without ava's deep comparison, which takes seconds on a MiB of bytes. */
function sameBytes(t: ExecutionContext, actual: Uint8Array, expected: Uint8Array, message = ''): void {
  let at = -1;
  if (actual.length === expected.length) {
    if (Buffer.compare(actual, expected) !== 0) at = actual.findIndex((x, i) => x !== expected[i]);
  } else {
    at = Math.min(actual.length, expected.length);
  }
  t.true(at < 0, `${message} lengths ${actual.length}/${expected.length}, first difference at ${at}`);
}

/** A dst view with guard bytes on both sides, to catch writes outside it. */
function guarded(length: number): { dst: Uint8Array; intact(): boolean } {
  const all = new Uint8Array(length + 128).fill(0xa5);
  const dst = all.subarray(64, 64 + length);
  dst.fill(0);
  return {
    dst,
    intact: () => all.subarray(0, 64).every((x) => x === 0xa5) && all.subarray(64 + length).every((x) => x === 0xa5),
  };
}

/** Resident bytes of the mapping (VMA) that contains address, from /proc/self/smaps. */
function residentBytes(address: bigint): number {
  let inside = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (range) {
      inside = BigInt(`0x${range[1]}`) <= address && address < BigInt(`0x${range[2]}`);
    } else if (inside && line.startsWith('Rss:')) {
      return Number(/(\d+) kB/.exec(line)![1]) * 1024;
    }
  }
  return 0;
}

/** Whether /proc/self/maps has a mapping covering every byte of [start, end). */
function mapped(start: bigint, end: bigint): boolean {
  const ranges = readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ', 1)[0]!.split('-').map((h) => BigInt(`0x${h}`)) as [bigint, bigint])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let at = start;
  for (const [s, e] of ranges) {
    if (s > at) break;
    if (e > at) at = e;
    if (at >= end) return true;
  }
  return at >= end;
}

function runWorker(
  data: object,
  resourceLimits?: { maxOldGenerationSizeMb: number; maxYoungGenerationSizeMb: number },
): { worker: Worker; message: Promise<unknown> } {
  const worker = new Worker(new URL('./encode-worker.js', import.meta.url), { workerData: data, resourceLimits });
  const message = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited with ${code} before answering`)));
  });
  return { worker, message };
}

// --- loading --------------------------------------------------------------------------------

test('The addon loads with ABI 9, zstd 1.5.x, its own threads, the page size and its vector paths.', (t) => {
  t.is(native.abiVersion, NATIVE_ABI_VERSION);
  t.is(native.abiVersion, 9);
  t.regex(native.zstdVersion, /^1\.5\.\d+$/);
  t.true(Number.isInteger(native.threads) && native.threads >= 1);
  t.true(native.pageSize >= 4096 && (native.pageSize & (native.pageSize - 1)) === 0);
  t.true([...SIMD_PATHS, 'none'].includes(native.simd), native.simd);
});

test('The addon says which Node it was built for, and the loader refuses a build for another.', (t) => {
  t.is(native.nodeModuleVersion, Number(process.versions.modules));
  // serializeValue uses the V8 API, so a build from another Node major must not be called: a
  // stand-in for such a build, loaded the way the loader loads the addon.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-abi-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fake = path.join(dir, 'other-node.cjs');
  fs.writeFileSync(fake, `module.exports = { abiVersion: ${NATIVE_ABI_VERSION}, nodeModuleVersion: 1 };`);
  const loader = new URL('../../src/native/binding.js', import.meta.url).href;
  const out = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', `const { loadNative } = await import(${JSON.stringify(loader)}); process.stdout.write(JSON.stringify(loadNative()));`],
    { env: { ...process.env, CR_NATIVE_FILE: fake }, encoding: 'utf8' },
  );
  const result = JSON.parse(out) as { binding: unknown; reason: string };
  t.is(result.binding, null);
  t.regex(result.reason, /was built for another Node\.js \(module version 1; this is v\d+\.\d+\.\d+, module version \d+\): run "npm rebuild"/);
});

test('CR_THREADS sets the size of the addon\'s pool.', (t) => {
  const out = execFileSync(process.execPath, ['-e', `process.stdout.write(String(require(${JSON.stringify(addonFile)}).threads))`], {
    env: { ...process.env, CR_THREADS: '1' },
    encoding: 'utf8',
  });
  t.is(out, '1');
});

test('adviseHugePages leaves the bytes of a SharedArrayBuffer as they were, and says whether it applied.', (t) => {
  const bytes = new Uint8Array(new SharedArrayBuffer(5 * MiB));
  bytes[0] = 7;
  bytes[5 * MiB - 1] = 9;
  t.is(typeof native.adviseHugePages(bytes), 'boolean');
  t.false(native.adviseHugePages(bytes.subarray(0, 4096)), 'no whole aligned 2 MiB in 4 KiB');
  t.is(bytes[0], 7);
  t.is(bytes[5 * MiB - 1], 9);
  bytes.fill(1, 0, 3 * MiB);
  t.true(bytes.subarray(0, 3 * MiB).every((v) => v === 1));
});

// --- regions --------------------------------------------------------------------------------

test.serial('allocRegion returns page-aligned, zero-filled memory of the requested length.', (t) => {
  for (const length of [1, 4095, 4096, 4097, 3 * MiB + 5]) {
    const region = native.allocRegion(length);
    t.is(region.byteLength, length);
    t.is(native._addressOf(region) % BigInt(native.pageSize), 0n);
    const bytes = new Uint8Array(region);
    t.true(bytes.every((x) => x === 0));
    bytes[length - 1] = 7;
    t.is(new Uint8Array(region)[length - 1], 7);
    native.freeRegion(region);
  }
  const empty = native.allocRegion(0);
  t.is(empty.byteLength, 0);
  native.freeRegion(empty);
});

test.serial('A region is left out of child processes: after one is started, writing the region takes no page faults.', (t) => {
  const length = 64 * MiB;
  const region = native.allocRegion(length);
  const bytes = new Uint8Array(region);
  const writeEveryPage = (value: number): number => {
    const before = process.resourceUsage().minorPageFault;
    for (let i = 0; i < length; i += native.pageSize) bytes[i] = value;
    return process.resourceUsage().minorPageFault - before;
  };
  writeEveryPage(1); // first touch
  // Node starts a child by fork and exec: memory that fork copied would be write-protected in
  // this process afterwards, and fault once per page (16384 here) at the next writes.
  execFileSync('true');
  const faults = writeEveryPage(2);
  t.true(faults < length / native.pageSize / 8, `${faults} page faults writing ${length / native.pageSize} pages after a child process started`);
  t.true(bytes.every((x, i) => x === (i % native.pageSize === 0 ? 2 : 0)));
  native.freeRegion(region);
});

test.serial('freeRegion unmaps the memory, detaches the buffer, and a second free is a no-op.', (t) => {
  const region = native.allocRegion(5 * native.pageSize);
  const view = new Float64Array(region);
  view[3] = 1.5;
  const start = native._addressOf(region);
  t.true(mapped(start, start + BigInt(region.byteLength)));
  native.freeRegion(region);
  t.is(region.byteLength, 0);
  t.is(view.length, 0);
  t.is(Reflect.get(view, 3) as unknown, undefined);
  t.false(mapped(start, start + BigInt(5 * native.pageSize)));
  t.notThrows(() => native.freeRegion(region));
  t.is(region.byteLength, 0);
});

test.serial('discardRegion gives the pages back without detaching: the buffer stays attached and mapped, reading zeros; freeRegion still frees it.', (t) => {
  const region = native.allocRegion(5 * native.pageSize);
  const view = new Float64Array(region);
  view.fill(2.5);
  const start = native._addressOf(region);
  native.discardRegion(region);
  t.is(region.byteLength, 5 * native.pageSize, 'not detached');
  t.true(mapped(start, start + BigInt(region.byteLength)), 'still mapped until the garbage collector finalizes it');
  t.true(view.every((x) => x === 0), 'its pages were given back and read as zeros');
  t.notThrows(() => native.discardRegion(region));
  t.throws(() => native.discardRegion(new ArrayBuffer(8)), { message: /discardRegion: buffer is an ArrayBuffer that allocRegion did not make/ });
  native.freeRegion(region);
  t.is(region.byteLength, 0);
  t.notThrows(() => native.discardRegion(region), 'a freed region is left alone');
});

test.serial('allocRegion(length, true) asks for huge pages and still gives zero-filled memory.', (t) => {
  // An extra the contract does not have yet: allocRegion(byteLength, hugePages?: boolean).
  const alloc = native.allocRegion as (length: number, hugePages?: boolean) => ArrayBuffer;
  const length = 16 * MiB;
  const region = alloc(length, true);
  t.is(region.byteLength, length);
  t.is(native._addressOf(region) % BigInt(native.pageSize), 0n);
  const bytes = new Uint8Array(region);
  t.true(bytes.every((x) => x === 0));
  bytes.fill(3);
  const smaps = readFileSync('/proc/self/smaps', 'utf8');
  const start = native._addressOf(region).toString(16);
  const block = smaps.slice(smaps.indexOf(`${start}-`));
  t.log(`AnonHugePages of the region: ${/AnonHugePages:\s+(\d+ kB)/.exec(block)?.[1] ?? 'n/a'}`);
  native.freeRegion(region);
  t.is(region.byteLength, 0);
});

test('freeRegion refuses buffers that allocRegion did not make.', (t) => {
  t.throws(() => native.freeRegion(new ArrayBuffer(16)), { instanceOf: TypeError, message: /allocRegion did not make/ });
  t.throws(() => native.freeRegion(new Uint8Array(16) as unknown as ArrayBuffer), { instanceOf: TypeError });
  t.throws(() => native.freeRegion(undefined as unknown as ArrayBuffer), { instanceOf: TypeError });
});

test('allocRegion refuses lengths that are not integers or that no ArrayBuffer can hold.', (t) => {
  t.throws(() => native.allocRegion(-1), { instanceOf: RangeError, message: /byteLength/ });
  t.throws(() => native.allocRegion(1.5), { instanceOf: RangeError });
  t.throws(() => native.allocRegion(Number.NaN), { instanceOf: RangeError });
  t.throws(() => native.allocRegion('4096' as unknown as number), { instanceOf: TypeError });
  // Node 20 caps external ArrayBuffers at buffer.constants.MAX_LENGTH (4 GiB). The addon maps
  // the memory before napi refuses it, and unmaps it again on that path.
  t.throws(() => native.allocRegion(5 * 1024 * MiB), { instanceOf: RangeError, message: /cannot expose/ });
});

test.serial('A 3 GiB region, outside the V8 heap, can be allocated, touched sparsely and freed.', (t) => {
  const length = 3 * 1024 * MiB;
  const heapBefore = v8.getHeapStatistics().total_heap_size;
  const region = native.allocRegion(length);
  t.true(v8.getHeapStatistics().total_heap_size - heapBefore < 64 * MiB, 'the region should not be in the V8 heap');
  t.is(region.byteLength, length);
  const start = native._addressOf(region);
  const bytes = new Uint8Array(region);
  let sum = 0;
  for (let i = 0; i < length; i += MiB) {
    sum += bytes[i]!;
    bytes[i] = 1;
  }
  bytes[length - 1] = 2;
  t.is(sum, 0);
  t.is(bytes[length - 1], 2);
  // One page per MiB touched: 12 MiB resident, far from 3 GiB (the kernel may have merged a
  // neighbouring mapping into the same VMA, hence the slack above).
  const resident = residentBytes(start);
  t.true(resident >= 3072 * native.pageSize && resident < 512 * MiB, `resident ${resident / MiB} MiB`);
  native.freeRegion(region);
  t.is(region.byteLength, 0);
  t.false(mapped(start, start + BigInt(length)));
});

test('A 3 GiB region fits in a worker whose whole V8 heap is limited to 16 MiB.', async (t) => {
  const { message } = runWorker({ mode: 'bigRegion', nx: 0, ny: 0, seed: 0, blockSize: 0, level: 0 }, {
    maxOldGenerationSizeMb: 16,
    maxYoungGenerationSizeMb: 4,
  });
  const answer = (await message) as { byteLength: number; heapLimit: number; ends: number[]; freed: number };
  t.is(answer.byteLength, 3 * 1024 * MiB);
  t.true(answer.heapLimit < 64 * MiB, `heap limit ${answer.heapLimit}`);
  t.deepEqual(answer.ends, [1, 2]);
  t.is(answer.freed, 0);
});

// --- hash and shuffle ------------------------------------------------------------------------

test('hash64 and blockHash equal hash-wasm\'s XXH64 and XXH3-64 with seed 0 on several sizes.', async (t) => {
  const hashers = { xxh64: await createXXHash64(0, 0), xxh3: await createXXHash3(0, 0) };
  const reference = (kind: keyof typeof hashers, data: Uint8Array): bigint => {
    const digest = hashers[kind].init().update(data).digest('binary');
    return new DataView(digest.buffer, digest.byteOffset, 8).getBigUint64(0, false);
  };
  // XXH3 takes a different path below 17, 129 and 241 bytes and above its 1 KiB stripes.
  for (const size of [0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 100, 128, 129, 240, 241, 1024, 1025, 4096, MiB + 5]) {
    const data = randomBytes(size, size + 1);
    // A view at an odd offset hashes its own bytes only.
    const shifted = new Uint8Array(size + 3);
    shifted.set(data, 3);
    for (const view of [data, shifted.subarray(3)]) {
      const at = `size ${size}${view === data ? '' : ', offset 3'}`;
      t.is(native.hash64(view), reference('xxh64', data), at);
      t.is(native.blockHash(view, 0), reference('xxh64', data), at);
      t.is(native.blockHash(view, 1), reference('xxh3', data), at);
    }
  }
  t.is(native.hash64(new Uint8Array(0)), 0xef46db3751d8e999n);
  t.is(native.blockHash(new Uint8Array(0), 1), 0x2d06800538d394c2n);
  for (const bad of [2, -1, 0.5, '1', undefined]) {
    t.throws(() => native.blockHash(new Uint8Array(1), bad as number), { message: /blockHash: hash must be/ }, String(bad));
  }
});

test('shuffle writes the exact byte planes and unshuffle restores them, tails included, through every vector width (AVX2 where the CPU has it, then SSE2, then scalar for the rest).', (t) => {
  for (const es of [1, 2, 4, 8]) {
    for (const length of [0, 1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 127, 128, 129, 255, 387, 1000, 4099, 65536 + 13]) {
      const src = randomBytes(length, length * 8 + es);
      const planes = new Uint8Array(length);
      native.shuffle(src, planes, es);
      sameBytes(t, planes, referenceShuffle(src, es), `es ${es}, length ${length}`);
      const back = new Uint8Array(length);
      native.unshuffle(planes, back, es);
      sameBytes(t, back, src, `es ${es}, length ${length}`);
    }
  }
});

test('shuffle groups byte b of every element into plane b.', (t) => {
  // Two float64 elements plus a 3-byte tail: planes are [e0.b, e1.b] for b = 0..7, then the tail.
  const src = Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 90, 91, 92]);
  const dst = new Uint8Array(src.length);
  native.shuffle(src, dst, 8);
  t.deepEqual(Array.from(dst), [0, 10, 1, 11, 2, 12, 3, 13, 4, 14, 5, 15, 6, 16, 7, 17, 90, 91, 92]);
  const es2 = new Uint8Array(5);
  native.shuffle(Uint8Array.from([1, 2, 3, 4, 5]), es2, 2);
  t.deepEqual(Array.from(es2), [1, 3, 2, 4, 5]);
});

test('shuffle refuses overlapping or short buffers and unknown element sizes.', (t) => {
  const a = new Uint8Array(64);
  t.throws(() => native.shuffle(a, a, 8), { instanceOf: RangeError, message: /overlap/ });
  t.throws(() => native.unshuffle(a.subarray(0, 32), a.subarray(16, 48), 4), { instanceOf: RangeError });
  t.throws(() => native.shuffle(a, new Uint8Array(63), 8), { instanceOf: RangeError, message: /shorter/ });
  t.throws(() => native.shuffle(a, new Uint8Array(64), 3), { instanceOf: RangeError, message: /1, 2, 4 or 8/ });
  t.throws(() => native.shuffle(new Float64Array(8) as unknown as Uint8Array, new Uint8Array(64), 8), {
    instanceOf: TypeError,
    message: /Uint8Array, got Float64Array/,
  });
});

// --- frames ----------------------------------------------------------------------------------

test('compressBound is zstd\'s bound and refuses non-integers.', (t) => {
  for (const n of [0, 1, 1000, 128 * 1024 - 1, 128 * 1024, MiB, 3 * 1024 * MiB]) {
    t.is(native.compressBound(n), zstdBound(n), `n ${n}`);
  }
  t.throws(() => native.compressBound(-1), { instanceOf: RangeError });
  t.throws(() => native.compressBound(0.5), { instanceOf: RangeError });
});

test('compressFrame output decompresses with zstd-codec, and zstd-codec frames with decompressFrame.', async (t) => {
  const simple = await withZstdCodec();
  for (const data of [smoothField(256, 256, 1), randomBytes(100_000, 2), Uint8Array.of(1), new Uint8Array(MiB)]) {
    const frame = native.compressFrame(data, 1);
    t.true(frame instanceof Uint8Array);
    sameBytes(t, simple.decompress(frame), data);
    const back = new Uint8Array(data.length);
    t.is(native.decompressFrame(frame, back), data.length);
    sameBytes(t, back, data);
    const theirs = simple.compress(data, 3);
    const back2 = new Uint8Array(data.length);
    t.is(native.decompressFrame(theirs, back2), data.length);
    sameBytes(t, back2, data);
  }
  // An empty input is still one frame (zstd-codec answers null for empty content, so only ours).
  const empty = native.compressFrame(new Uint8Array(0), 1);
  t.true(empty.length > 0);
  t.is(native.decompressFrame(empty, new Uint8Array(0)), 0);
});

test('decompressFrame throws on a damaged frame and on a dst that is too small.', (t) => {
  const data = smoothField(128, 128, 3);
  const frame = native.compressFrame(data, 3);
  t.throws(() => native.decompressFrame(frame, new Uint8Array(data.length - 1)), { message: /decompressFrame: / });
  const bad = frame.slice();
  bad[0] ^= 0xff;
  t.throws(() => native.decompressFrame(bad, new Uint8Array(data.length)), { message: /decompressFrame: / });
  t.throws(() => native.compressFrame(data, 1000), { instanceOf: RangeError, message: /level/ });
});

// --- encodeBlocks / decodeBlocks -------------------------------------------------------------

async function roundTrip(t: ExecutionContext, name: string, src: Uint8Array, blockSize: number, es: number, level: number) {
  const e = await encode(src, blockSize, es, level);
  for (let i = 0; i < e.n; i++) {
    const raw = src.subarray(i * blockSize, i * blockSize + e.rawLengths[i]!);
    const stored = e.stored.subarray(i * e.stride, i * e.stride + e.out.storedLengths[i]!);
    t.is(e.out.rawHashes[i], native.blockHash(raw, 1), `${name}: raw hash of block ${i}`);
    t.is(e.out.storedHashes[i], native.blockHash(stored, 1), `${name}: stored hash of block ${i}`);
    t.true(e.out.storedLengths[i]! <= e.stride);
  }
  const { dst, intact } = guarded(src.length);
  t.is(decode(e, dst, es), null, name);
  t.true(Buffer.compare(dst, src) === 0, `${name}: decoded bytes differ`);
  t.true(intact(), `${name}: wrote outside dst`);
  return e;
}

test('encode then decode is bit-identical for random, zero and smooth float64 data.', async (t) => {
  const smooth = smoothField(512, 300, 7); // 1.17 MiB: the last block is short
  const e = await roundTrip(t, 'smooth', smooth, 64 * 1024, 8, 1);
  t.true(e.out.flags.every((f) => f === BLOCK_FLAG_PLANES));
  const total = e.out.storedLengths.reduce((a, x) => a + x, 0);
  t.true(total < smooth.length / 1.2, `ratio ${smooth.length / total}`);

  const zeros = new Uint8Array(3 * MiB + 17);
  const z = await roundTrip(t, 'zeros', zeros, MiB, 8, 1);
  t.true(z.out.storedLengths.every((l) => l < 1024));

  const random = randomBytes(MiB + 4097, 11);
  const r = await roundTrip(t, 'random', random, 256 * 1024, 8, 3);
  t.true(r.out.flags.every((f) => f === 0));

  for (const es of [1, 2, 4]) {
    const e2 = await roundTrip(t, `smooth es ${es}`, smooth.subarray(0, 200_003), 32 * 1024, es, 1);
    const want = es === 1 ? BLOCK_FLAG_ZSTD : BLOCK_FLAG_PLANES;
    t.true(e2.out.flags.every((f) => f === want || f === 0), `es ${es}`);
  }
  await roundTrip(t, 'one byte', Uint8Array.of(42), 4096, 8, 1);
  await roundTrip(t, 'negative level', smooth.subarray(0, 100_000), 16 * 1024, 8, -5);
});

test('A compressed block too short to plane-code is one frame of the shuffled bytes with the content size recorded.', async (t) => {
  const simple = await withZstdCodec();
  const src = new Uint8Array(new Float64Array(63).map((_, i) => 1.5 + (i & 3)).buffer); // under 64 elements
  const e = await encode(src, 128 * 1024, 8, 1);
  t.is(e.out.flags[0], BLOCK_FLAG_ZSTD | BLOCK_FLAG_SHUFFLE);
  const frame = e.stored.subarray(0, e.out.storedLengths[0]!);
  sameBytes(t, simple.decompress(frame), referenceShuffle(src, 8));
});

test('An incompressible block is stored raw, unshuffled, with flags 0.', async (t) => {
  const src = new Uint8Array(3 * 64 * 1024);
  src.set(randomBytes(64 * 1024, 99), 64 * 1024); // only block 1 is noise
  const e = await encode(src, 64 * 1024, 8, 1);
  t.deepEqual(Array.from(e.out.flags), [BLOCK_FLAG_PLANES, 0, BLOCK_FLAG_PLANES]);
  t.is(e.out.storedLengths[1], 64 * 1024);
  sameBytes(t, e.stored.subarray(e.stride, e.stride + 64 * 1024), src.subarray(64 * 1024, 128 * 1024));
  t.is(e.out.storedHashes[1], e.out.rawHashes[1]);
});

test('encodeBlocks of nothing resolves at once.', async (t) => {
  const out = newOut(0);
  await native.encodeBlocks(new Uint8Array(0), MiB, 8, 1, new Uint8Array(0), native.compressBound(MiB), out, false, 1);
  t.pass();
});

test('An encode of at most 16 KiB is done before encodeBlocks returns, with the blocks the pool would have made.', async (t) => {
  const field = smoothField(64, 48, 5); // 24 KiB: three blocks of 8 KiB
  const stride = native.compressBound(8 * 1024);
  for (const es of [1, 8]) {
    const small = field.subarray(0, 16 * 1024);
    const stored = new Uint8Array(2 * stride);
    const out = newOut(2);
    const pending = native.encodeBlocks(small, 8 * 1024, es, 1, stored, stride, out, false, 1);
    // Nothing has run on the pool's side yet (no event-loop turn): the results are already here.
    const before = { ...out, storedLengths: out.storedLengths.slice(), rawHashes: out.rawHashes.slice(), storedHashes: out.storedHashes.slice(), flags: out.flags.slice() };
    await pending;
    t.deepEqual(before, out, `es ${es}: the out arrays were complete when the call returned`);
    const pool = await encode(field, 8 * 1024, es); // 24 KiB: on the pool
    for (let i = 0; i < 2; i++) {
      t.is(out.storedLengths[i], pool.out.storedLengths[i]);
      t.is(out.flags[i], pool.out.flags[i]);
      t.is(out.rawHashes[i], pool.out.rawHashes[i]);
      t.is(out.storedHashes[i], pool.out.storedHashes[i]);
      sameBytes(t, stored.subarray(i * stride, i * stride + out.storedLengths[i]!), pool.stored.subarray(i * stride, i * stride + pool.out.storedLengths[i]!));
    }
    t.true(out.storedLengths[0]! > 0 && out.rawHashes[0] === native.blockHash(small.subarray(0, 8 * 1024), 1));
  }
});

test('encodeBlocks rejects bad arguments with a TypeError or RangeError.', async (t) => {
  const src = new Uint8Array(10_000);
  const bs = 4096;
  const stride = native.compressBound(bs);
  const dst = new Uint8Array(3 * stride);
  const out = newOut(3);
  const call = (over: Record<string, unknown>) => {
    const a = { src, bs, es: 8, level: 1, dst, stride, out, ...over };
    return native.encodeBlocks(a.src as Uint8Array, a.bs as number, a.es as number, a.level as number,
      a.dst as Uint8Array, a.stride as number, a.out as NativeEncodeOut, false, 1);
  };
  await t.throwsAsync(call({ src: new Float64Array(4) }), { instanceOf: TypeError, message: /src must be a Uint8Array/ });
  await t.throwsAsync(call({ bs: 0 }), { instanceOf: RangeError, message: /blockSize/ });
  await t.throwsAsync(call({ bs: MiB + 1 }), { instanceOf: RangeError, message: /blockSize/ });
  await t.throwsAsync(call({ bs: 4096.5 }), { instanceOf: RangeError, message: /blockSize/ });
  await t.throwsAsync(call({ es: 3 }), { instanceOf: RangeError, message: /elementSize/ });
  await t.throwsAsync(call({ level: 23 }), { instanceOf: RangeError, message: /level/ });
  await t.throwsAsync(call({ stride: stride - 1 }), { instanceOf: RangeError, message: /dstStride must be at least compressBound/ });
  // The last block (1808 bytes) needs only its own bound, not a whole stride.
  const need = 2 * stride + native.compressBound(10_000 - 2 * bs);
  await t.throwsAsync(call({ dst: dst.subarray(0, need - 1) }), { instanceOf: RangeError, message: /dst .* too small/ });
  await t.throwsAsync(call({ dst: dst.subarray(0, stride) }), { instanceOf: RangeError, message: /dst .* too small/ });
  await t.throwsAsync(call({ out: { ...out, flags: new Uint8Array(2) } }), { instanceOf: RangeError, message: /out.flags has 2 entries/ });
  await t.throwsAsync(call({ out: { ...out, rawHashes: new BigInt64Array(3) } }), { instanceOf: TypeError, message: /out.rawHashes/ });
  await t.throwsAsync(call({ out: null }), { instanceOf: TypeError, message: /out must be an object/ });
  const shared = new Uint8Array(3 * stride + 10_000);
  await t.throwsAsync(call({ src: shared.subarray(0, 10_000), dst: shared.subarray(5000) }), { instanceOf: RangeError, message: /overlap/ });
  await t.notThrowsAsync(call({ dst: new Uint8Array(need) }));
});

test('Getters on out run before encodeBlocks looks at src, so they cannot pull memory from under it.', async (t) => {
  const field = smoothField(256, 256, 41);
  const n = field.length / (64 * 1024);
  const stride = native.compressBound(64 * 1024);
  // A getter that frees the region src lives in.
  const region = native.allocRegion(field.length);
  const src = new Uint8Array(region);
  src.set(field);
  const real = newOut(n);
  const hostile = {
    get storedLengths() {
      native.freeRegion(region);
      return real.storedLengths;
    },
    flags: real.flags,
    rawHashes: real.rawHashes,
    storedHashes: real.storedHashes,
  };
  // src is empty by the time it is read: nothing to encode.
  await native.encodeBlocks(src, 64 * 1024, 8, 1, new Uint8Array(n * stride), stride, hostile, false, 1);
  t.is(src.length, 0);
  // A getter that detaches an ordinary dst by transferring its buffer away.
  const dst = new Uint8Array(n * stride);
  const moving = {
    ...real,
    get flags() {
      structuredClone(dst.buffer, { transfer: [dst.buffer] });
      return real.flags;
    },
  };
  await t.throwsAsync(native.encodeBlocks(field, 64 * 1024, 8, 1, dst, stride, moving, false, 1), {
    instanceOf: RangeError,
    message: /dst \(0 bytes\) is too small/,
  });
});

test('decodeBlocks reports flipped bits by the lowest failing block and its reason.', async (t) => {
  const src = smoothField(256, 256, 13); // 512 KiB, 8 blocks of 64 KiB
  const e = await encode(src, 64 * 1024, 8, 1);
  const at = (i: number, k: number) => i * e.stride + k;

  // A flipped stored bit: the stored hash no longer matches.
  const flipped = e.stored.slice();
  flipped[at(5, 100)] ^= 0x10;
  flipped[at(6, 7)] ^= 0x01;
  t.deepEqual(decode(e, new Uint8Array(src.length), 8, { stored: flipped }), { index: 5, reason: 'stored-hash' });

  // Damage that the stored hash vouches for (as a rewritten hash would): zstd must refuse it.
  const badMagic = e.stored.slice();
  badMagic[at(3, 0)] ^= 0xff;
  const storedHashes = e.out.storedHashes.slice();
  storedHashes[3] = native.blockHash(badMagic.subarray(at(3, 0), at(3, e.out.storedLengths[3]!)), 1);
  t.deepEqual(decode(e, new Uint8Array(src.length), 8, { stored: badMagic, storedHashes }), { index: 3, reason: 'decompress' });

  // A truncated frame, with a matching stored hash.
  const storedLengths = e.out.storedLengths.slice();
  storedLengths[2]! -= 1;
  const truncHashes = e.out.storedHashes.slice();
  truncHashes[2] = native.blockHash(e.stored.subarray(at(2, 0), at(2, storedLengths[2]!)), 1);
  t.deepEqual(decode(e, new Uint8Array(src.length), 8, { storedLengths, storedHashes: truncHashes }), {
    index: 2,
    reason: 'decompress',
  });

  // Decodes fine but to other bytes than were hashed.
  const rawHashes = e.out.rawHashes.slice();
  rawHashes[4]! ^= 1n;
  rawHashes[7]! ^= 1n;
  t.deepEqual(decode(e, new Uint8Array(src.length), 8, { rawHashes }), { index: 4, reason: 'raw-hash' });

  // A plane-coded block names its element size: decoding it as another is refused.
  t.deepEqual(decode(e, new Uint8Array(src.length), 4), { index: 0, reason: 'decompress' });

  // The lowest index wins whatever the reasons.
  t.deepEqual(decode(e, new Uint8Array(src.length), 8, { stored: flipped, rawHashes }), { index: 4, reason: 'raw-hash' });
});

test('decodeBlocks refuses frames that hold more, less or other than one frame of rawLength bytes.', async (t) => {
  const block = smoothField(64, 64, 17); // 32 KiB
  const big = native.compressFrame(smoothField(64, 128, 17), 1); // 64 KiB of content
  const two = new Uint8Array([...native.compressFrame(block.subarray(0, 16384), 1), ...native.compressFrame(block.subarray(16384), 1)]);
  for (const [name, frame] of [
    ['a frame with more content', big],
    ['two frames', two],
  ] as const) {
    const { dst, intact } = guarded(block.length);
    const failure = native.decodeBlocks(
      frame,
      Float64Array.of(0),
      Uint32Array.of(frame.length),
      Uint8Array.of(BLOCK_FLAG_ZSTD),
      BigUint64Array.of(native.blockHash(frame, 1)),
      BigUint64Array.of(native.blockHash(block, 1)),
      dst,
      Float64Array.of(0),
      Uint32Array.of(block.length),
      1, 1,
    );
    t.deepEqual(failure, { index: 0, reason: 'decompress' }, name);
    t.true(intact(), `${name}: wrote outside dst`);
  }
});

test('decodeBlocks refuses out-of-range offsets, lengths and flags with a RangeError, untouched dst.', async (t) => {
  const src = smoothField(128, 64, 19); // 64 KiB, 4 blocks of 16 KiB
  const e = await encode(src, 16 * 1024, 8, 1);
  const { dst, intact } = guarded(src.length);
  const bad = (over: Partial<Encoded & NativeEncodeOut>, message: RegExp, target = dst) =>
    t.throws(() => native.decodeBlocks(
      over.stored ?? e.stored,
      over.srcOffsets ?? e.srcOffsets,
      over.storedLengths ?? e.out.storedLengths,
      over.flags ?? e.out.flags,
      over.storedHashes ?? e.out.storedHashes,
      over.rawHashes ?? e.out.rawHashes,
      target,
      over.dstOffsets ?? e.dstOffsets,
      over.rawLengths ?? e.rawLengths,
      8, 1,
    ), { instanceOf: RangeError, message }, String(message));
  const withAt = <T extends Float64Array | Uint32Array | Uint8Array>(a: T, i: number, v: number): T => {
    const c = a.slice() as T;
    c[i] = v;
    return c;
  };
  bad({ srcOffsets: withAt(e.srcOffsets, 1, e.stored.length) }, /block 1 stored bytes .* outside src/);
  bad({ srcOffsets: withAt(e.srcOffsets, 1, 2 ** 53) }, /outside src/);
  bad({ srcOffsets: withAt(e.srcOffsets, 2, -1) }, /srcOffsets\[2\] is not an integer/);
  bad({ srcOffsets: withAt(e.srcOffsets, 2, 0.5) }, /srcOffsets\[2\]/);
  bad({ srcOffsets: withAt(e.srcOffsets, 2, Number.NaN) }, /srcOffsets\[2\]/);
  bad({ srcOffsets: withAt(e.srcOffsets, 0, 2 ** 64) }, /srcOffsets\[0\]/);
  bad({ storedLengths: withAt(e.out.storedLengths, 3, 0xffffffff) }, /storedLength/);
  bad({ dstOffsets: withAt(e.dstOffsets, 3, src.length - 100) }, /block 3 raw bytes .* outside dst/);
  bad({ dstOffsets: withAt(e.dstOffsets, 3, Infinity) }, /dstOffsets\[3\]/);
  bad({ dstOffsets: withAt(e.dstOffsets, 3, 0) }, /overlap in dst/);
  bad({ rawLengths: withAt(e.rawLengths, 0, MiB + 1) }, /rawLength/);
  bad({ flags: withAt(e.out.flags, 1, 2) }, /invalid flags 2/);
  bad({ flags: withAt(e.out.flags, 1, 7) }, /invalid flags 7/);
  bad({ flags: withAt(e.out.flags, 1, 0) }, /stored raw but storedLength != rawLength/);
  bad({ rawLengths: e.rawLengths.subarray(0, 3) }, /rawLengths has 3 entries/);
  bad({}, /outside dst/, dst.subarray(0, src.length - 1));
  bad({}, /src and dst overlap/, e.stored.subarray(0, src.length));
  t.true(dst.every((x) => x === 0));
  t.true(intact());
  t.throws(() => decode(e, dst, 3), { instanceOf: RangeError, message: /elementSize/ });
  t.throws(() => decode(e, dst, 8, { srcOffsets: new Uint32Array(4) as unknown as Float64Array }), { instanceOf: TypeError });
  // The same call with the real arrays works.
  t.is(decode(e, dst, 8), null);
  sameBytes(t, dst, src);
  t.true(intact());
});

test('decodeBlocks of no blocks returns null.', (t) => {
  const z = new Uint8Array(0);
  t.is(native.decodeBlocks(z, new Float64Array(0), new Uint32Array(0), z, new BigUint64Array(0), new BigUint64Array(0), z, new Float64Array(0), new Uint32Array(0), 8, 1), null);
});

test.serial('freeRegion during an encode keeps the memory until the encode has finished.', async (t) => {
  const field = smoothField(512, 512, 23); // 2 MiB
  const region = native.allocRegion(field.length);
  const src = new Uint8Array(region);
  src.set(field);
  const n = field.length / (64 * 1024);
  const stride = native.compressBound(64 * 1024);
  const dstRegion = native.allocRegion(n * stride);
  const out = newOut(n);
  const pending = native.encodeBlocks(src, 64 * 1024, 8, 6, new Uint8Array(dstRegion), stride, out, false, 1);
  const start = native._addressOf(region);
  native.freeRegion(region);
  t.is(region.byteLength, 0);
  await pending;
  // The pool read the whole region even though JS freed it: the hashes are those of field.
  for (let i = 0; i < n; i++) {
    t.is(out.rawHashes[i], native.blockHash(field.subarray(i * 64 * 1024, (i + 1) * 64 * 1024), 1));
  }
  // ...and once the encode settled, the deferred unmap happened.
  t.false(mapped(start, start + BigInt(field.length)));
  const stored = new Uint8Array(dstRegion);
  const back = new Uint8Array(field.length);
  t.is(native.decodeBlocks(stored, Float64Array.from({ length: n }, (_, i) => i * stride), out.storedLengths, out.flags,
    out.storedHashes, out.rawHashes, back, Float64Array.from({ length: n }, (_, i) => i * 64 * 1024),
    new Uint32Array(n).fill(64 * 1024), 8, 1), null);
  sameBytes(t, back, field);
  native.freeRegion(dstRegion);
});

test('Concurrent encodes from one thread all resolve with their own results.', async (t) => {
  const inputs = [0, 1, 2, 3, 4, 5].map((k) => (k % 2 ? randomBytes(300_000 + k, k) : smoothField(300, 200 + k, k)));
  const results = await Promise.all(inputs.map((src) => encode(src, 32 * 1024, 8, 1)));
  for (let k = 0; k < inputs.length; k++) {
    const back = new Uint8Array(inputs[k]!.length);
    t.is(decode(results[k]!, back, 8), null);
    sameBytes(t, back, inputs[k]);
  }
});

// --- serializeValue ------------------------------------------------------------------------

test('serializeValue writes v8.serialize\'s bytes into the arena at the offset, leaving the bytes around them alone.', (t) => {
  const reference = new Float64Array(4);
  const value = { a: 1, b: 'two', c: [1.5, -0, NaN], d: new Map([[1, { e: 2n }]]), f: new Date(5), g: /x+/giu, h: new Set(['s']) };
  const arena = new Uint8Array(4096).fill(0xee);
  const end = native.serializeValue(value, arena, 100, () => t.fail('no host object here'), reference);
  t.is(typeof end, 'number');
  t.deepEqual(Buffer.from(arena.subarray(100, end as number)), v8.serialize(value));
  t.true(arena.subarray(0, 100).every((v) => v === 0xee));
  t.true(arena.subarray(end as number).every((v) => v === 0xee));
});

test('serializeValue writes each view as a host object with the four numbers its callback gives.', (t) => {
  const reference = new Float64Array(4);
  const views: object[] = [];
  const arena = new Uint8Array(256);
  const a = new Float64Array(3);
  const b = new Uint8Array(2);
  const end = native.serializeValue({ a, b, again: a }, arena, 0, (view) => {
    views.push(view);
    reference.set([views.length - 1, 9, 2 ** 40, 3]);
  }, reference);
  t.deepEqual(views, [a, b], 'called once per view, in order; a view reached twice is a back-reference');
  // The same stream from Node's own serializer, with the same host-object writes.
  const s = new v8.Serializer();
  (s as unknown as { _setTreatArrayBufferViewsAsHostObjects(f: boolean): void })._setTreatArrayBufferViewsAsHostObjects(true);
  let n = 0;
  (s as unknown as { _writeHostObject(o: object): void })._writeHostObject = () => {
    s.writeUint32(n++);
    s.writeUint32(9);
    s.writeUint64(2 ** 8, 0);
    s.writeUint64(0, 3);
  };
  s.writeHeader();
  s.writeValue({ a, b, again: a });
  t.deepEqual(Buffer.from(arena.subarray(0, end as number)), s.releaseBuffer());
});

test('A stream that outgrows the arena comes back whole in an ArrayBuffer of its own.', (t) => {
  const reference = new Float64Array(4);
  const value = Array.from({ length: 10_000 }, (_, i) => ({ i, name: `n${i}` }));
  const expected = v8.serialize(value);
  for (const size of [0, 16, 4096, expected.length - 1]) {
    const arena = new Uint8Array(size);
    const out = native.serializeValue(value, arena, 0, () => undefined, reference);
    t.true(out instanceof ArrayBuffer, `arena of ${size} bytes`);
    t.deepEqual(Buffer.from(out as ArrayBuffer), expected, `arena of ${size} bytes`);
  }
  t.is(native.serializeValue(value, new Uint8Array(expected.length), 0, () => undefined, reference), expected.length, 'exactly enough fits');
});

test('serializeValue returns null for what V8 refuses, or when the host-object callback throws, and leaves no exception behind.', (t) => {
  const reference = new Float64Array(4);
  const arena = new Uint8Array(1024);
  for (const [what, value] of [
    ['a function', { f: () => 1 }],
    ['a symbol', [Symbol('s')]],
    ['a SharedArrayBuffer', { s: new SharedArrayBuffer(8) }],
    ['a WeakMap', new WeakMap()],
    ['a throwing getter', { get boom(): number { throw new Error('getter'); } }],
  ] as const) {
    t.is(native.serializeValue(value, arena, 0, () => undefined, reference), null, what);
  }
  let calls = 0;
  const view = new Uint8Array(4);
  t.is(native.serializeValue({ view, later: [view, new Float32Array(1)] }, arena, 0, () => {
    calls++;
    throw new Error('refused');
  }, reference), null);
  t.true(calls >= 1);
  // Nothing is pending: the next call works as usual.
  t.is(typeof native.serializeValue({ ok: true }, arena, 0, () => undefined, reference), 'number');
});

test('serializeValue checks its arguments before writing anything.', (t) => {
  const reference = new Float64Array(4);
  const arena = new Uint8Array(64);
  t.throws(() => native.serializeValue(1, new Float64Array(8) as unknown as Uint8Array, 0, () => undefined, reference), { instanceOf: TypeError });
  t.throws(() => native.serializeValue(1, arena, 65, () => undefined, reference), { instanceOf: RangeError });
  t.throws(() => native.serializeValue(1, arena, -1, () => undefined, reference), { instanceOf: RangeError });
  t.throws(() => native.serializeValue(1, arena, 0, 'no' as unknown as () => void, reference), { instanceOf: TypeError, message: /hostObject must be a function/ });
  t.throws(() => native.serializeValue(1, arena, 0, () => undefined, new Float64Array(3)), { instanceOf: RangeError, message: /reference must hold 4 numbers/ });
  t.throws(() => native.serializeValue(1, arena, 0, () => undefined, new Float32Array(4) as unknown as Float64Array), { instanceOf: TypeError });
  t.true(arena.every((v) => v === 0));
  t.is(native.serializeValue(1, arena, 64, () => undefined, reference) instanceof ArrayBuffer, true, 'at the very end: nothing fits');
});

// --- worker_threads ----------------------------------------------------------------------------

test('Encoding many blocks in a worker_threads Worker works alongside the main thread.', async (t) => {
  const job = { mode: 'roundtrip', nx: 1024, ny: 1024, seed: 29, blockSize: 64 * 1024, level: 1 }; // 8 MiB, 128 blocks
  const { message } = runWorker(job);
  // The same data encoded here at the same time, on the same pool.
  const field = smoothField(job.nx, job.ny, job.seed);
  const here = await encode(field, job.blockSize, 8, job.level);
  const answer = (await message) as { failure: unknown; identical: boolean; storedHashes: string[]; flags: number[] };
  t.is(answer.failure, null);
  t.true(answer.identical);
  t.is(answer.storedHashes.length, 128);
  t.deepEqual(answer.storedHashes, Array.from(here.out.storedHashes, (h) => h.toString(16)));
  t.deepEqual(answer.flags, Array.from(here.out.flags));
});

test('Terminating a worker with an encode in flight neither crashes nor hangs the pool.', async (t) => {
  // Level 19 on 16 MiB takes many seconds on two threads; the worker is stopped right away.
  const { worker, message } = runWorker({ mode: 'busy', nx: 2048, ny: 1024, seed: 31, blockSize: MiB, level: 19 });
  t.is(await message, 'started');
  const started = Date.now();
  await worker.terminate();
  t.log(`terminate took ${Date.now() - started} ms`);
  // The pool is free again for this thread.
  const src = smoothField(256, 256, 37);
  const e = await encode(src, 64 * 1024, 8, 1);
  const back = new Uint8Array(src.length);
  t.is(decode(e, back, 8), null);
  sameBytes(t, back, src);
});

test('encodeBlocks on the background threads writes the same blocks, and those threads run at nice 5 while the pool keeps nice 0.', async (t) => {
  const src = smoothField(1024, 768, 3); // 6 MiB of float64
  const n = Math.ceil(src.length / MiB);
  const stride = native.compressBound(MiB);
  const a = { stored: new Uint8Array(n * stride), out: newOut(n) };
  const b = { stored: new Uint8Array(n * stride), out: newOut(n) };
  await native.encodeBlocks(src, MiB, 8, 1, a.stored, stride, a.out, false, 1);
  await native.encodeBlocks(src, MiB, 8, 1, b.stored, stride, b.out, true, 1);
  t.deepEqual(b.out, a.out);
  t.true(Buffer.from(b.stored).equals(Buffer.from(a.stored)));
  await t.throwsAsync(() => native.encodeBlocks(src, MiB, 8, 1, b.stored, stride, b.out, 'yes' as unknown as boolean, 1), { instanceOf: TypeError, message: /background must be a boolean/ });
  // Thread names and nice values from /proc (field 19 of stat is the nice value).
  const nice = new Map<string, number[]>();
  for (const tid of fs.readdirSync('/proc/self/task')) {
    const comm = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const kind = comm.replace(/-\d+$/, '');
    nice.set(kind, [...(nice.get(kind) ?? []), Number(fields[16])]);
  }
  // The pool sets nice 5 outright; under a suite run with nice above 5, only root may lower it.
  const base = os.getPriority();
  const bg = base <= 5 || process.getuid?.() === 0 ? 5 : base;
  t.deepEqual(nice.get('cr-bg'), Array(native.threads).fill(bg));
  t.deepEqual(nice.get('cr-pool'), Array(native.threads).fill(base));
});
