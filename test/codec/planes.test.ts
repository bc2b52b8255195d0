// Plane-coded blocks (src/codec/planes.ts, native/src/planes.cc): the addon writes them, and
// both codecs must decode them to the same bytes and refuse the same damaged ones.
import test from 'ava';
import { getNativeCodec, getPortableCodec, MAX_BLOCK_SIZE } from '../../src/codec/index.js';
import type { BlockCodec } from '../../src/codec/index.js';
import { planesHeaderLength } from '../../src/codec/planes.js';
import { BLOCK_FLAG_PLANES, loadNative } from '../../src/native/binding.js';
import { bytesOf, decodeSection, encodeSection, equalBytes, randomBytes, randomWalk, repeatingBytes, sectionRequest, singleBlockRequest, smoothField } from './helpers.js';

const { binding, reason } = loadNative();
const it = binding ? test : test.skip;
if (!binding) console.warn(`[codec tests] skipping the plane-coding tests: native addon unavailable: ${reason ?? 'no reason given'}`);

const KiB = 1024;

function nativeCodec(): BlockCodec {
  const codec = getNativeCodec();
  if (!codec) throw new Error('native codec unavailable');
  return codec;
}

function floats(values: number[], count: number): Uint8Array {
  const a = new Float64Array(count);
  for (let i = 0; i < count; i++) a[i] = values[i % values.length]!;
  return bytesOf(a);
}

interface Case {
  what: string;
  data: Uint8Array;
  elementSize: number;
  /** Whether every block long enough to plane-code must come out plane-coded. */
  planes: boolean;
}

function cases(): Case[] {
  const field = bytesOf(smoothField(700, 200, 3)); // 1.07 MiB
  const ramp = new Uint32Array(50_000).map((_, i) => i * 7 + 3);
  const steps = new Uint16Array(40_001).map((_, i) => (i >> 3) & 0xffff);
  const denormals = new Float64Array(20_000).map((_, i) => (i % 97) * Number.MIN_VALUE * 1e3);
  return [
    { what: 'an empty section', data: new Uint8Array(0), elementSize: 8, planes: false },
    { what: 'fewer bytes than one element', data: randomBytes(5, 1), elementSize: 8, planes: false },
    { what: 'a block too short to plane-code', data: field.subarray(0, 63 * 8 + 3), elementSize: 8, planes: false },
    { what: 'a smooth float64 field', data: field, elementSize: 8, planes: true },
    { what: 'a smooth field with a tail not a multiple of 8', data: field.subarray(0, 300 * KiB + 5), elementSize: 8, planes: true },
    { what: 'a smooth field read as float32 pairs', data: field, elementSize: 4, planes: true },
    { what: 'a smooth field read as 16-bit words, odd length', data: field.subarray(0, 200 * KiB + 1), elementSize: 2, planes: true },
    { what: 'all zeros', data: new Uint8Array(300 * KiB + 8), elementSize: 8, planes: true },
    { what: 'a constant', data: floats([1.5], 40_000), elementSize: 8, planes: true },
    { what: 'NaN, ±Infinity, -0 and numbers mixed', data: floats([NaN, Infinity, -Infinity, -0, 1e308, -1e-308, 3.25], 30_000), elementSize: 8, planes: true },
    { what: 'denormals', data: bytesOf(denormals), elementSize: 8, planes: true },
    { what: 'a 32-bit integer ramp', data: bytesOf(ramp), elementSize: 4, planes: true },
    { what: 'a 16-bit staircase', data: bytesOf(steps), elementSize: 2, planes: true },
    { what: 'random bytes', data: randomBytes(200 * KiB + 3, 9), elementSize: 8, planes: false },
  ];
}

for (const blockSize of [4 * KiB, MAX_BLOCK_SIZE]) {
  it(`Blocks the addon plane-codes at ${blockSize / KiB} KiB decode to the same bytes with the native and the portable codec.`, async (t) => {
    const native = nativeCodec();
    const portable = await getPortableCodec();
    for (const c of cases()) {
      const s = await encodeSection(native, c.data, blockSize, c.elementSize, 1);
      for (let i = 0; i < s.flags.length; i++) {
        const planeable = Math.floor(s.rawLengths[i]! / c.elementSize) >= 64;
        if (c.planes && planeable) t.is(s.flags[i], BLOCK_FLAG_PLANES, `${c.what}: block ${i} is plane-coded`);
        if (!c.planes) t.not(s.flags[i], BLOCK_FLAG_PLANES, `${c.what}: block ${i} is not plane-coded`);
        if (s.flags[i] === BLOCK_FLAG_PLANES) t.true(s.storedLengths[i]! < s.rawLengths[i]!, `${c.what}: block ${i} shrank`);
      }
      for (const codec of [native, portable]) {
        const out = decodeSection(codec, s, blockSize);
        t.is(out.failure, null, `${c.what}, ${codec.name}`);
        t.true(out.guards, `${c.what}, ${codec.name}: nothing written outside the blocks`);
        t.true(equalBytes(out.bytes, c.data), `${c.what}, ${codec.name}: the bytes come back`);
      }
    }
  });
}

it('Plane coding keeps the float field at least as small as one zstd frame of the shuffled block.', async (t) => {
  // The portable encoder still writes format 1's blocks (shuffle + one zstd frame), at the same level.
  const data = bytesOf(smoothField(1024, 512, 5)); // 4 MiB
  const planes = await encodeSection(nativeCodec(), data, MAX_BLOCK_SIZE, 8, 1);
  const whole = await encodeSection(await getPortableCodec(), data, MAX_BLOCK_SIZE, 8, 1);
  const sum = (a: Uint32Array): number => a.reduce((x, y) => x + y, 0);
  t.true([...planes.flags].every((f) => f === BLOCK_FLAG_PLANES));
  t.true(sum(planes.storedLengths) <= sum(whole.storedLengths), `${sum(planes.storedLengths)} ≤ ${sum(whole.storedLengths)}`);
});

/** One plane-coded block of a smooth field, and ways to damage it whose stored hash is then recomputed. */
async function oneBlock(): Promise<{ stored: Uint8Array; raw: Uint8Array; rawHash: bigint }> {
  const raw = bytesOf(smoothField(64, 64, 8)).subarray(0, 32 * KiB + 3);
  const s = await encodeSection(nativeCodec(), raw, 64 * KiB, 8, 1);
  if (s.flags[0] !== BLOCK_FLAG_PLANES) throw new Error('test bug: the block is not plane-coded');
  const at = s.srcOffsets[0]!;
  return { stored: s.image.slice(at, at + s.storedLengths[0]!), raw, rawHash: s.rawHashes[0]! };
}

it('Both codecs refuse the same malformed plane-coded blocks as decompress failures.', async (t) => {
  const { stored, raw, rawHash } = await oneBlock();
  const es = 8;
  const header = planesHeaderLength(es);
  const damaged: Array<[string, (b: Uint8Array) => Uint8Array]> = [
    ['an unknown predictor', (b) => ((b[0] = 3), b)],
    ['element size 3', (b) => ((b[1] = 3), b)],
    ['element size 4 in a section of 8', (b) => ((b[1] = 4), b)],
    ['an unknown plane coding', (b) => ((b[2] = 2), b)],
    ['a plane length past the end', (b) => ((b[3] = 0xff), (b[4] = 0xff), (b[5] = 0xff), b)],
    ['a byte too many', (b) => Uint8Array.of(...b, 0)],
    ['a byte too few', (b) => b.slice(0, b.length - 1)],
    ['only the header', (b) => b.slice(0, header)],
    ['two bytes', (b) => b.slice(0, 2)],
  ];
  for (const codec of [nativeCodec(), await getPortableCodec()]) {
    t.deepEqual(codec.decode(singleBlockRequest(stored, raw.length, BLOCK_FLAG_PLANES, codec.blockHash(stored, 'xxh3'), rawHash, es)), null, `${codec.name}: the intact block decodes`);
    for (const [what, damage] of damaged) {
      const bad = damage(stored.slice());
      const r = singleBlockRequest(bad, raw.length, BLOCK_FLAG_PLANES, codec.blockHash(bad, 'xxh3'), rawHash, what.includes('section of 8') ? 8 : es);
      t.deepEqual(codec.decode(r), { index: 0, reason: 'decompress' }, `${codec.name}: ${what}`);
    }
    // The same block as a section of 4-byte elements: the block says 8.
    const r = singleBlockRequest(stored, raw.length, BLOCK_FLAG_PLANES, codec.blockHash(stored, 'xxh3'), rawHash, 4);
    t.deepEqual(codec.decode(r), { index: 0, reason: 'decompress' }, `${codec.name}: element size of the section differs`);
  }
});

it('A plane-coded block whose decoded bytes differ from its raw hash is reported as such by both codecs.', async (t) => {
  const { stored, raw } = await oneBlock();
  for (const codec of [nativeCodec(), await getPortableCodec()]) {
    const r = singleBlockRequest(stored, raw.length, BLOCK_FLAG_PLANES, codec.blockHash(stored, 'xxh3'), codec.blockHash(raw, 'xxh3') ^ 1n, 8);
    t.deepEqual(codec.decode(r), { index: 0, reason: 'raw-hash' }, codec.name);
  }
});

/** 64- and 32-bit elements each predictor wins on: a random walk (delta), a smooth field (the line), and bytes that repeat (none). */
function predictorCases(): { what: string; predictor: number; elementSize: 4 | 8; data: Uint8Array }[] {
  const smooth = smoothField(1024, 400, 22);
  return [
    // 3 MiB and a part block whose count is not a multiple of 4.
    { what: 'a random walk', predictor: 1, elementSize: 8, data: randomWalk(3 * 131_072 + 1027, 21) },
    { what: 'a smooth field', predictor: 2, elementSize: 8, data: bytesOf(smooth).subarray(0, 3 * 1024 * KiB + 8 * 1027) },
    { what: 'repeating bytes', predictor: 0, elementSize: 8, data: repeatingBytes(1024 * KiB + 8 * 1027, 23) },
    { what: 'a 32-bit random walk', predictor: 1, elementSize: 4, data: randomWalk(3 * 262_144 + 1027, 24, 32) },
    { what: 'a smooth float32 field', predictor: 2, elementSize: 4, data: bytesOf(Float32Array.from(smooth)).subarray(0, 1024 * KiB + 4 * 1027) },
    { what: 'repeating bytes as 4-byte elements', predictor: 0, elementSize: 4, data: repeatingBytes(1024 * KiB + 4 * 1027, 25) },
  ];
}

it('Each predictor on 64- and 32-bit elements decodes exactly into memory not yet faulted in, into memory already written (stored past the cache), and at offsets off the 16-byte alignment.', async (t) => {
  const native = nativeCodec();
  const blockSize = MAX_BLOCK_SIZE;
  for (const c of predictorCases()) {
    const s = await encodeSection(native, c.data, blockSize, c.elementSize, 1);
    for (let i = 0; i < s.flags.length; i++) {
      t.is(s.flags[i], BLOCK_FLAG_PLANES, `${c.what}: block ${i} is plane-coded`);
      t.is(s.image[s.srcOffsets[i]!], c.predictor, `${c.what}: block ${i} uses predictor ${c.predictor}`);
    }
    // Written memory at 0, 16, 32 and 48 bytes in: every 16-byte alignment short of a cache line
    // (the stores past the cache start with 16-byte ones up to the first whole line).
    for (const [where, shift, touched] of [['fresh memory', 0, false], ['written memory', 0, true], ['fresh memory, 8 bytes in', 8, false], ['written memory, 3 bytes in', 3, true], ['written memory, 16 bytes in', 16, true], ['written memory, 32 bytes in', 32, true], ['written memory, 48 bytes in', 48, true]] as const) {
      // Several MiB: the allocator maps it anew, so untouched pages are not resident.
      const dst = new Uint8Array(shift + c.data.length + 64);
      if (touched) dst.fill(0x5a);
      const r = { ...sectionRequest(s, blockSize), dst, dstOffsets: Float64Array.from(s.rawLengths, (_, i) => shift + i * blockSize) };
      t.is(native.decode(r), null, `${c.what}, ${where}`);
      t.true(equalBytes(dst.subarray(shift, shift + c.data.length), c.data), `${c.what}, ${where}: the bytes come back`);
      t.true(dst.subarray(shift + c.data.length).every((b) => b === (touched ? 0x5a : 0)), `${c.what}, ${where}: nothing written past the end`);
    }
  }
});
