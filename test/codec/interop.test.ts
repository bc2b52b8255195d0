// The two codecs must read each other's images: the addon may be missing where an image is read
// back, or present where the portable codec wrote it.
import test from 'ava';
import { loadNative } from '../../src/native/binding.js';
import { getNativeCodec, getPortableCodec, shuffle, unshuffle, MAX_BLOCK_SIZE } from '../../src/codec/index.js';
import type { BlockCodec } from '../../src/codec/index.js';
import { bytesOf, decodeSection, encodeSection, equalBytes, randomBytes, smoothField } from './helpers.js';

const { binding, reason } = loadNative();
const it = binding ? test : test.skip;
if (!binding) {
  console.warn(`[codec tests] skipping the native/portable interoperability tests: native addon unavailable: ${reason ?? 'no reason given'}`);
}

function nativeCodec(): BlockCodec {
  const codec = getNativeCodec();
  if (!codec) throw new Error('native codec unavailable');
  return codec;
}

const KiB = 1024;

interface Case {
  what: string;
  data: Uint8Array;
  blockSize: number;
  elementSize: number;
}

function cases(): Case[] {
  const field = bytesOf(smoothField(1024, 300, 12)); // 2.34 MiB: a short last block
  return [
    { what: 'random bytes', data: randomBytes(3 * 64 * KiB + 777, 5), blockSize: 64 * KiB, elementSize: 1 },
    { what: 'random bytes as float64', data: randomBytes(2 * 64 * KiB + 64, 6), blockSize: 64 * KiB, elementSize: 8 },
    { what: 'zeros', data: new Uint8Array(3 * 256 * KiB + 10), blockSize: 256 * KiB, elementSize: 4 },
    { what: 'zeros, unshuffled', data: new Uint8Array(100 * KiB), blockSize: 64 * KiB, elementSize: 1 },
    { what: 'a smooth float64 field', data: field, blockSize: MAX_BLOCK_SIZE, elementSize: 8 },
    { what: 'a smooth field as float32 pairs', data: field, blockSize: 256 * KiB, elementSize: 4 },
    { what: 'a smooth field as 16-bit words', data: field.subarray(0, 300 * KiB + 6), blockSize: 64 * KiB, elementSize: 2 },
    { what: 'short tail blocks', data: field.subarray(0, 5 * 4 * KiB + 13), blockSize: 4 * KiB, elementSize: 8 },
    { what: 'one byte', data: field.subarray(0, 1), blockSize: 4 * KiB, elementSize: 8 },
  ];
}

it('The JS shuffle matches the native shuffle byte for byte.', (t) => {
  const b = binding!;
  for (const es of [1, 2, 4, 8]) {
    for (const length of [0, 1, 3, 7, 8, 9, 17, 1001, 4099, 65536, 65536 + 7, MAX_BLOCK_SIZE - 1]) {
      const src = randomBytes(length, es * 31 + length);
      const js = new Uint8Array(length);
      const native = new Uint8Array(length);
      shuffle(src, js, es);
      b.shuffle(src, native, es);
      t.true(equalBytes(js, native), `shuffle es ${es}, length ${length}`);
      unshuffle(src, js, es);
      b.unshuffle(src, native, es);
      t.true(equalBytes(js, native), `unshuffle es ${es}, length ${length}`);
    }
  }
});

it('Both codecs compute the same XXH64 and XXH3.', async (t) => {
  const portable = await getPortableCodec();
  const native = nativeCodec();
  for (const length of [0, 1, 3, 16, 17, 31, 32, 33, 128, 129, 240, 241, 1000, 65536 + 3]) {
    const data = randomBytes(length, length + 1);
    t.is(native.hash64(data), portable.hash64(data), `length ${length}`);
    for (const kind of ['xxh64', 'xxh3'] as const) t.is(native.blockHash(data, kind), portable.blockHash(data, kind), `${kind}, length ${length}`);
  }
});

it('Blocks the portable codec writes decode bit-identically with the native codec.', async (t) => {
  const portable = await getPortableCodec();
  const native = nativeCodec();
  for (const c of cases()) {
    for (const level of [1, 3]) {
      const s = await encodeSection(portable, c.data, c.blockSize, c.elementSize, level);
      const out = decodeSection(native, s, c.blockSize);
      t.is(out.failure, null, `${c.what}, level ${level}`);
      t.true(out.guards, c.what);
      t.true(equalBytes(out.bytes, c.data), `${c.what}, level ${level}`);
    }
  }
});

it('Blocks the native codec writes decode bit-identically with the portable codec.', async (t) => {
  const portable = await getPortableCodec();
  const native = nativeCodec();
  for (const c of cases()) {
    for (const level of [1, 3, 19]) {
      const s = await encodeSection(native, c.data, c.blockSize, c.elementSize, level);
      const out = decodeSection(portable, s, c.blockSize);
      t.is(out.failure, null, `${c.what}, level ${level}`);
      t.true(out.guards, c.what);
      t.true(equalBytes(out.bytes, c.data), `${c.what}, level ${level}`);
    }
  }
});

it('Both codecs record the same raw hashes always, and the same stored bytes and hashes for raw blocks.', async (t) => {
  const portable = await getPortableCodec();
  const native = nativeCodec();
  let rawBlocks = 0;
  for (const c of cases()) {
    const p = await encodeSection(portable, c.data, c.blockSize, c.elementSize, 1);
    const n = await encodeSection(native, c.data, c.blockSize, c.elementSize, 1);
    t.deepEqual([...n.rawLengths], [...p.rawLengths], c.what);
    t.deepEqual([...n.rawHashes], [...p.rawHashes], c.what);
    for (let i = 0; i < p.rawLengths.length; i++) {
      // Whether zstd shrinks a block may differ between zstd versions only at the margin;
      // where both stored it raw, the stored form is fully determined by the format.
      if (p.flags[i] === 0 && n.flags[i] === 0) {
        rawBlocks++;
        t.is(n.storedHashes[i], p.storedHashes[i], `${c.what}, block ${i}`);
        const ps = p.image.subarray(p.srcOffsets[i]!, p.srcOffsets[i]! + p.storedLengths[i]!);
        const ns = n.image.subarray(n.srcOffsets[i]!, n.srcOffsets[i]! + n.storedLengths[i]!);
        t.true(equalBytes(ps, ns), `${c.what}, block ${i}`);
      }
      // Compressed or not, a codec's stored hash is the block hash of what it stored.
      const ns = n.image.subarray(n.srcOffsets[i]!, n.srcOffsets[i]! + n.storedLengths[i]!);
      t.is(n.storedHashes[i], portable.blockHash(ns, 'xxh3'), `${c.what}, block ${i}`);
    }
  }
  t.true(rawBlocks >= 5, `only ${rawBlocks} blocks were raw in both`);
});
