// readBlocks (native/src/readblocks.cc, native/src/block-files.cc): blocks read from files by the addon's threads, verified
// and decoded into dst. The reader-level behaviour is in test/image/reader-native-read.test.ts;
// here, the binding's own contract: what it reads, how it reports each failure, what it refuses.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BLOCK_FLAG_PLANES, loadNative, type NativeEncodeOut } from '../../src/native/binding.js';
import { randomBytes, smoothField } from './data.js';
import { cachedBytes, directReadsUntestable, dropCache, withDirectReads } from '../page-cache.js';

const { binding, reason } = loadNative();
if (!binding) throw new Error(`the native addon must build and load for these tests: ${reason}`);
const native = binding;

const KiB = 1024;
const BLOCK = 64 * KiB;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-read-blocks-'));
test.after.always(() => fs.rmSync(root, { recursive: true, force: true }));
let files = 0;

interface OnDisk {
  file: string;
  fd: number;
  raw: Uint8Array;
  n: number;
  positions: Float64Array;
  out: NativeEncodeOut;
  dstOffsets: Float64Array;
  rawLengths: Uint32Array;
}

/**
 * Encodes `raw` in blocks and writes the stored bytes to a new file, each after a gap of junk,
 * or back to back (`gaps` false) as an image lays them out.
 */
async function onDisk(raw: Uint8Array, es: number, gaps = true): Promise<OnDisk> {
  const n = Math.ceil(raw.length / BLOCK);
  const stride = native.compressBound(BLOCK);
  const stored = new Uint8Array(n * stride);
  const out: NativeEncodeOut = { storedLengths: new Uint32Array(n), flags: new Uint8Array(n), rawHashes: new BigUint64Array(n), storedHashes: new BigUint64Array(n) };
  await native.encodeBlocks(raw, BLOCK, es, 1, stored, stride, out, false, 1);
  const parts: Uint8Array[] = [];
  const positions = new Float64Array(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const gap = randomBytes(gaps || i === 0 ? 1 + (i % 7) : 0, 100 + i);
    parts.push(gap);
    at += gap.length;
    positions[i] = at;
    parts.push(stored.subarray(i * stride, i * stride + out.storedLengths[i]!));
    at += out.storedLengths[i]!;
  }
  const file = path.join(root, `blocks-${files++}.bin`);
  fs.writeFileSync(file, Buffer.concat(parts));
  const fd = fs.openSync(file, 'r');
  return {
    file,
    fd,
    raw,
    n,
    positions,
    out,
    dstOffsets: Float64Array.from({ length: n }, (_, i) => i * BLOCK),
    rawLengths: Uint32Array.from({ length: n }, (_, i) => Math.min(BLOCK, raw.length - i * BLOCK)),
  };
}

type Over = Partial<{ fds: Int32Array; positions: Float64Array; storedLengths: Uint32Array; flags: Uint8Array; storedHashes: BigUint64Array; rawHashes: BigUint64Array; dstOffsets: Float64Array; rawLengths: Uint32Array }>;

function read(d: OnDisk, dst: Uint8Array, es: number, over: Over = {}) {
  return native.readBlocks(
    over.fds ?? new Int32Array(d.n).fill(d.fd),
    over.positions ?? d.positions,
    over.storedLengths ?? d.out.storedLengths,
    over.flags ?? d.out.flags,
    over.storedHashes ?? d.out.storedHashes,
    over.rawHashes ?? d.out.rawHashes,
    dst,
    over.dstOffsets ?? d.dstOffsets,
    over.rawLengths ?? d.rawLengths,
    es, 1,
  );
}

test('readBlocks reads compressed and raw blocks from a file at their positions and decodes them in place.', async (t) => {
  for (const [what, raw, es] of [
    ['a smooth float64 field', smoothField(256, 130, 1), 8],
    ['random bytes (raw blocks)', randomBytes(5 * BLOCK + 123, 2), 1],
    ['a float32 field with a short tail', smoothField(200, 100, 3).subarray(0, 3 * BLOCK + 4 * 77), 4],
  ] as const) {
    const d = await onDisk(raw, es);
    if (what.startsWith('random')) t.true(d.out.flags.every((f) => f === 0), 'random bytes are stored raw');
    else t.true(d.out.flags.every((f) => f === BLOCK_FLAG_PLANES), what);
    const dst = new Uint8Array(raw.length);
    t.is(read(d, dst, es), null, what);
    t.is(Buffer.compare(dst, raw), 0, what);
    fs.closeSync(d.fd);
  }
});

/** Flips one bit of the byte at `position` in `file`; returns what flips it back. */
function flipByte(file: string, position: number): () => void {
  const flip = () => {
    const fd = fs.openSync(file, 'r+');
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, position);
    byte[0]! ^= 0x40;
    fs.writeSync(fd, byte, 0, 1, position);
    fs.closeSync(fd);
  };
  flip();
  return flip;
}

/**
 * The lowest failing block of `d` is reported: stored hash, raw hash, a position past the end, a
 * cut file. `cold`: each read finds the file out of the page cache.
 */
function lowestFailures(t: ExecutionContext, d: OnDisk, cold: boolean): void {
  const dst = new Uint8Array(d.raw.length);
  const readCold = (over: Over = {}) => {
    if (cold) dropCache(d.file);
    return read(d, dst, 8, over);
  };
  // Damaged stored bytes in blocks 5 and 2.
  const restore = [flipByte(d.file, d.positions[5]! + 17), flipByte(d.file, d.positions[2]! + 17)];
  t.deepEqual(readCold(), { index: 2, reason: 'stored-hash' });
  for (const undo of restore) undo();
  const wrongRaw = d.out.rawHashes.slice();
  wrongRaw[6]! ^= 1n;
  t.deepEqual(readCold({ rawHashes: wrongRaw }), { index: 6, reason: 'raw-hash' });
  const past = d.positions.slice();
  past[4] = fs.statSync(d.file).size + 10;
  t.deepEqual(readCold({ positions: past }), { index: 4, reason: 'truncated' });
  // The stored length runs past the end: the first pread is short, the next finds the end (read
  // past the cache: the last direct read ends at the file's end, off the alignment, and the rest
  // is asked of the page cache, which finds the end).
  fs.truncateSync(d.file, fs.statSync(d.file).size - 3);
  t.deepEqual(readCold(), { index: d.n - 1, reason: 'truncated' });
}

test('readBlocks reports the lowest failing block: stored hash, raw hash, a position past the end, a cut file.', async (t) => {
  const d = await onDisk(smoothField(256, 256, 4), 8);
  t.true(d.n >= 8);
  lowestFailures(t, d, false);
  fs.closeSync(d.fd);
});

test('readBlocks reads a coded block whose bytes decode to its raw hash even if its stored hash is wrong (that hash only names a failure); a raw block, whose two hashes are one, is refused.', async (t) => {
  const d = await onDisk(smoothField(256, 256, 6), 8);
  const wrongStored = d.out.storedHashes.slice();
  wrongStored[3]! ^= 1n;
  const dst = new Uint8Array(d.raw.length);
  t.is(read(d, dst, 8, { storedHashes: wrongStored }), null);
  t.is(Buffer.compare(dst, d.raw), 0, 'the bytes restored are exact');
  fs.closeSync(d.fd);
  const r = await onDisk(randomBytes(3 * BLOCK, 7), 1);
  t.true(r.out.flags.every((f) => f === 0), 'random bytes are stored raw');
  const wrongRawStored = r.out.storedHashes.slice();
  wrongRawStored[1]! ^= 1n;
  t.deepEqual(read(r, new Uint8Array(r.raw.length), 1, { storedHashes: wrongRawStored }), { index: 1, reason: 'stored-hash' });
  fs.closeSync(r.fd);
});

test('readBlocks refuses a stored block that is not what its flags say as decompress, after its stored hash, as the portable codec does.', async (t) => {
  const d = await onDisk(smoothField(256, 256, 5), 8);
  const dst = new Uint8Array(d.raw.length);
  // The blocks are plane-coded (flags 4): as zstd frames (3) they do not parse.
  for (const bad of [2, 3, 0x80]) {
    const flags = d.out.flags.slice();
    flags[1] = bad;
    t.deepEqual(read(d, dst, 8, { flags }), { index: 1, reason: 'decompress' }, `flags ${bad}`);
    const storedHashes = d.out.storedHashes.slice();
    storedHashes[1]! ^= 1n;
    t.deepEqual(read(d, dst, 8, { flags, storedHashes }), { index: 1, reason: 'stored-hash' }, `flags ${bad}, wrong hash`);
  }
  // A frame read with a rawLength other than its content size.
  const rawLengths = d.rawLengths.slice();
  rawLengths[0] = BLOCK - 8;
  const dstOffsets = Float64Array.from(d.dstOffsets, (o, i) => (i === 0 ? 0 : o));
  t.deepEqual(read(d, dst, 8, { rawLengths, dstOffsets }), { index: 0, reason: 'decompress' });
  // A zstd frame with its last byte cut off (the stored hash made to match).
  const storedLengths = d.out.storedLengths.slice();
  storedLengths[3]! -= 1;
  const cut = Buffer.alloc(storedLengths[3]!);
  fs.readSync(d.fd, cut, 0, cut.length, d.positions[3]!);
  const storedHashes = d.out.storedHashes.slice();
  storedHashes[3] = native.blockHash(cut, 1);
  t.deepEqual(read(d, dst, 8, { storedLengths, storedHashes }), { index: 3, reason: 'decompress' });
  fs.closeSync(d.fd);
});

test('readBlocks reports a failing pread as io with its errno: a pipe (ESPIPE), a descriptor that is not open (EBADF).', async (t) => {
  const d = await onDisk(smoothField(256, 128, 6), 8);
  const dst = new Uint8Array(d.raw.length);
  const [pipeRead, pipeWrite] = pipeFds();
  const fds = new Int32Array(d.n).fill(d.fd);
  fds[0] = pipeRead;
  t.deepEqual(read(d, dst, 8, { fds }), { index: 0, reason: 'io', errno: os.constants.errno.ESPIPE });
  fs.closeSync(pipeRead);
  fs.closeSync(pipeWrite);
  // Far above any descriptor this process opens (a closed one could be reused meanwhile).
  fds[0] = d.fd;
  fds[2] = 1 << 24;
  t.deepEqual(read(d, dst, 8, { fds }), { index: 2, reason: 'io', errno: os.constants.errno.EBADF });
  fs.closeSync(d.fd);
});

/** A pipe's two descriptors, from a FIFO opened both ways (Node has no pipe(2)). */
function pipeFds(): [number, number] {
  const fifo = path.join(root, `fifo-${files++}`);
  execFileSync('mkfifo', [fifo]);
  const readFd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writeFd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  return [readFd, writeFd];
}

test('readBlocks refuses bad arguments with a RangeError before reading anything.', async (t) => {
  const d = await onDisk(smoothField(256, 256, 7), 8);
  const dst = new Uint8Array(d.raw.length);
  const cases: [string, Over, RegExp][] = [
    ['a negative fd', { fds: new Int32Array(d.n).fill(-1) }, /fds\[0\] is negative/],
    ['a fractional position', { positions: Float64Array.from(d.positions, (p, i) => (i === 1 ? p + 0.5 : p)) }, /positions\[1\] is not an integer offset/],
    ['a negative position', { positions: Float64Array.from(d.positions, (p, i) => (i === 1 ? -1 : p)) }, /positions\[1\]/],
    ['a raw length over 1 MiB', { rawLengths: Uint32Array.from(d.rawLengths, (l, i) => (i === 0 ? 1024 * KiB + 1 : l)) }, /rawLength/],
    ['a stored length over the bound', { storedLengths: Uint32Array.from(d.out.storedLengths, (l, i) => (i === 0 ? 2 * 1024 * KiB : l)) }, /storedLength/],
    ['a block past the end of dst', { dstOffsets: Float64Array.from(d.dstOffsets, (o, i) => (i === d.n - 1 ? o + 1 : o)) }, /lie outside dst/],
    ['two blocks over the same bytes', { dstOffsets: Float64Array.from(d.dstOffsets, (o, i) => (i === 1 ? 0 : o)) }, /overlap in dst/],
    ['a short descriptor array', { rawHashes: d.out.rawHashes.subarray(0, d.n - 1) }, /rawHashes has/],
  ];
  for (const [what, over, message] of cases) {
    dst.fill(0x5a);
    const err = t.throws(() => read(d, dst, 8, over), { instanceOf: RangeError }, what);
    t.regex(err!.message, message, what);
    t.true(dst.every((b) => b === 0x5a), `${what}: nothing was written`);
  }
  t.throws(() => read(d, dst, 3), { instanceOf: RangeError, message: /elementSize/ });
  t.is(native.readBlocks(new Int32Array(0), new Float64Array(0), new Uint32Array(0), new Uint8Array(0), new BigUint64Array(0), new BigUint64Array(0), dst, new Float64Array(0), new Uint32Array(0), 8, 1), null, 'no blocks: nothing to do');
  fs.closeSync(d.fd);
});

// Direct reads (O_DIRECT) of blocks the page cache does not hold. Whether a read went past the
// cache is seen from outside: afterwards `fincore` finds none of the file cached.

const directReason = directReadsUntestable(root);
if (directReason) console.log(`skipping the direct-read tests: ${directReason}`);
const directTest = directReason ? test.skip : test.serial;

/** What readBlocks must read past the page cache for it to read anything so (kDirectMinBytes). */
const DIRECT_MIN_BYTES = 8 * 1024 * 1024;

const storedBytes = (d: OnDisk): number => d.out.storedLengths.reduce((sum, length) => sum + length, 0);

directTest('Blocks the page cache does not hold are read past it, at unaligned positions, and decode to the same bytes; raw blocks too.', async (t) => {
  for (const [what, raw, es] of [
    ['a smooth float64 field', smoothField(2048, 1024, 11), 8],
    ['random bytes (raw blocks)', randomBytes(9 * 1024 * 1024 + 123, 12), 1],
    ['a float32 field with a short tail', smoothField(2048, 1536, 13).subarray(0, 300 * BLOCK + 4 * 77), 4],
  ] as const) {
    const d = await onDisk(raw, es);
    t.true(storedBytes(d) >= DIRECT_MIN_BYTES, `${what}: enough to be read past the cache`);
    t.true([...d.positions].some((p) => p % 4096 !== 0), 'blocks start off the alignment');
    dropCache(d.file);
    t.is(cachedBytes(d.file), 0, `${what}: dropped from the cache`);
    const dst = new Uint8Array(raw.length);
    t.is(withDirectReads(undefined, () => read(d, dst, es)), null, what);
    t.is(Buffer.compare(dst, raw), 0, what);
    t.is(cachedBytes(d.file), 0, `${what}: read past the page cache`);
    // CR_DIRECT_READS=0: through the page cache, which then holds the file.
    dst.fill(0);
    t.is(withDirectReads('0', () => read(d, dst, es)), null, what);
    t.is(Buffer.compare(dst, raw), 0, what);
    t.true(cachedBytes(d.file) > 0, `${what}: CR_DIRECT_READS=0 reads through the page cache`);
    fs.closeSync(d.fd);
  }
});

directTest('A call that would read less than 8 MiB past the page cache reads through it, where the kernel reads ahead.', async (t) => {
  const d = await onDisk(smoothField(1024, 512, 16), 8);
  t.true(storedBytes(d) < DIRECT_MIN_BYTES);
  dropCache(d.file);
  const dst = new Uint8Array(d.raw.length);
  t.is(read(d, dst, 8), null);
  t.is(Buffer.compare(dst, d.raw), 0);
  t.true(cachedBytes(d.file) >= storedBytes(d), 'read through the page cache');
  fs.closeSync(d.fd);
});

directTest('Read past the page cache, the lowest failing block is reported as through it: stored hash, raw hash, a position past the end, a cut file, a damaged byte.', async (t) => {
  const d = await onDisk(smoothField(2048, 1024, 14), 8);
  t.true(storedBytes(d) >= DIRECT_MIN_BYTES);
  lowestFailures(t, d, true);
  t.true(cachedBytes(d.file) < 8192, 'only the cut tail went through the page cache');
  fs.closeSync(d.fd);
  // A damaged byte inside a block read directly.
  const e = await onDisk(smoothField(2048, 1024, 15), 8);
  flipByte(e.file, e.positions[3]! + 100);
  dropCache(e.file);
  t.deepEqual(read(e, new Uint8Array(e.raw.length), 8), { index: 3, reason: 'stored-hash' });
  t.is(cachedBytes(e.file), 0);
  fs.closeSync(e.fd);
});

directTest('Blocks back to back, as an image lays them out, are read past the page cache, alignment units shared with their neighbours and all; a damaged byte and a cut file are named as the block they lie in.', async (t) => {
  // 40 MiB: random bytes stored raw and a smooth field coded in planes, 10 blocks of each in turn.
  const raw = new Uint8Array(40 * 1024 * 1024);
  for (let at = 0, k = 0; at < raw.length; at += 10 * BLOCK, k++) {
    const part = k % 2 === 0 ? randomBytes(10 * BLOCK, 30 + k) : new Uint8Array(smoothField(160, 512, 30 + k).buffer, 0, 10 * BLOCK);
    raw.set(part.subarray(0, Math.min(part.length, raw.length - at)), at);
  }
  const d = await onDisk(raw, 8, false);
  t.true(d.out.flags.some((f) => f === 0) && d.out.flags.some((f) => f !== 0), 'raw and coded blocks');
  t.true([...d.positions].every((p, i) => i === 0 || p === d.positions[i - 1]! + d.out.storedLengths[i - 1]!), 'back to back');
  t.true(storedBytes(d) >= DIRECT_MIN_BYTES, 'enough to be read past the cache');
  t.true([...d.positions].some((p) => p % 4096 !== 0), 'blocks start off the alignment');
  const dst = new Uint8Array(raw.length);
  dropCache(d.file);
  t.is(read(d, dst, 8), null);
  t.is(Buffer.compare(dst, raw), 0, 'the same bytes');
  t.is(cachedBytes(d.file), 0, 'read past the page cache');
  // A damaged byte in a block in the middle of the file, and in one near its end.
  for (const k of [Math.floor(d.n / 2) + 3, d.n - 5]) {
    const undo = flipByte(d.file, d.positions[k]! + 9);
    dropCache(d.file);
    t.deepEqual(read(d, new Uint8Array(raw.length), 8), { index: k, reason: 'stored-hash' }, `block ${k}`);
    undo();
  }
  // The file cut inside a block well before its end.
  const cut = Math.floor(d.n * 0.6);
  fs.truncateSync(d.file, d.positions[cut]! + 1000);
  dropCache(d.file);
  t.deepEqual(read(d, new Uint8Array(raw.length), 8), { index: cut, reason: 'truncated' });
  fs.closeSync(d.fd);
});
