// Behaviour every BlockCodec must show, registered once per codec by portable.test.ts and
// native.test.ts so both are held to the same sentences.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { BLOCK_FLAG_PLANES, BLOCK_FLAG_SHUFFLE, BLOCK_FLAG_ZSTD } from '../../src/native/binding.js';
import { MAX_BLOCK_SIZE, zstdCompressBound } from '../../src/codec/index.js';
import type { BlockCodec, DecodeFailure, DecodeRequest } from '../../src/codec/index.js';
import {
  buildFrame,
  bytesOf,
  decodeSection,
  encodeSection,
  equalBytes,
  GUARD,
  guardsIntact,
  randomBytes,
  rleFrame,
  sectionRequest,
  singleBlockRequest,
  smoothField,
} from './helpers.js';

const KiB = 1024;
const ELEMENT_SIZES = [1, 2, 4, 8];

/** Decodes and reports either the failure or the RangeError; anything else fails the test. */
function decodeOrRangeError(t: ExecutionContext, codec: BlockCodec, r: DecodeRequest): DecodeFailure | 'RangeError' | null {
  try {
    return codec.decode(r);
  } catch (err) {
    t.true(err instanceof RangeError, `expected a RangeError, got ${String(err)}`);
    return 'RangeError';
  }
}

export function registerCodecSuite(
  label: string,
  load: () => Promise<BlockCodec>,
  skipReason: string | null,
): void {
  const it = skipReason === null ? test : test.skip;
  const title = (sentence: string): string => `The ${label} codec ${sentence}`;
  if (skipReason !== null) {
    // ava prints no reason for a skipped test, so say it once where the run's output shows it.
    console.warn(`[codec tests] skipping the ${label} codec's tests: ${skipReason}`);
  }

  it(title('round-trips random bytes as raw blocks whose stored hash is their raw hash.'), async (t) => {
    const codec = await load();
    const blockSize = 64 * KiB;
    const data = randomBytes(3 * blockSize + 1001, 11);
    for (const es of ELEMENT_SIZES) {
      const s = await encodeSection(codec, data, blockSize, es, 1);
      t.deepEqual([...s.flags], [0, 0, 0, 0], `elementSize ${es}`);
      t.deepEqual([...s.storedLengths], [...s.rawLengths]);
      t.deepEqual([...s.storedHashes], [...s.rawHashes]);
      const out = decodeSection(codec, s, blockSize);
      t.is(out.failure, null);
      t.true(out.guards);
      t.true(equalBytes(out.bytes, data), `elementSize ${es}`);
    }
  });

  it(title('round-trips zeros as zstd frames, shuffled (or, natively, plane-coded) when elementSize > 1.'), async (t) => {
    const codec = await load();
    const blockSize = 256 * KiB;
    const data = new Uint8Array(2 * blockSize + 24);
    for (const es of ELEMENT_SIZES) {
      const s = await encodeSection(codec, data, blockSize, es, 3);
      // The addon plane-codes blocks of 64 or more 2-, 4- or 8-byte elements; the portable encoder
      // writes format 1's blocks.
      const expected = [...s.rawLengths].map((length) =>
        es === 1 ? BLOCK_FLAG_ZSTD : codec.name === 'native' && length / es >= 64 ? BLOCK_FLAG_PLANES : BLOCK_FLAG_ZSTD | BLOCK_FLAG_SHUFFLE,
      );
      t.deepEqual([...s.flags], expected, `elementSize ${es}`);
      for (let i = 0; i < 3; i++) t.true(s.storedLengths[i]! < s.rawLengths[i]!);
      const out = decodeSection(codec, s, blockSize);
      t.is(out.failure, null);
      t.true(out.guards);
      t.true(equalBytes(out.bytes, data), `elementSize ${es}`);
    }
  });

  it(title('round-trips a smooth float64 field in 1 MiB blocks and compresses it.'), async (t) => {
    const codec = await load();
    const field = smoothField(1024, 321); // 2.5 MiB + a 64 KiB tail block
    const data = bytesOf(field);
    const s = await encodeSection(codec, data, MAX_BLOCK_SIZE, 8, 1);
    t.is(s.rawLengths.length, 3);
    t.deepEqual([...s.rawLengths], [MAX_BLOCK_SIZE, MAX_BLOCK_SIZE, data.length - 2 * MAX_BLOCK_SIZE]);
    const stored = s.storedLengths.reduce((a, b) => a + b, 0);
    t.true(stored < data.length * 0.95, `stored ${stored} of ${data.length} bytes`);
    const out = decodeSection(codec, s, MAX_BLOCK_SIZE);
    t.is(out.failure, null);
    t.true(out.guards);
    t.true(equalBytes(out.bytes, data));
  });

  it(title('round-trips short tail blocks, including tails that are not whole elements.'), async (t) => {
    const codec = await load();
    const field = bytesOf(smoothField(100, 50, 3));
    for (const blockSize of [4 * KiB, 4 * KiB + 3, 1000]) {
      for (const length of [0, 1, 7, 9, 4 * KiB - 1, 4 * KiB + 5, 5 * 4 * KiB + 13, field.length]) {
        const data = field.subarray(0, length);
        for (const es of ELEMENT_SIZES) {
          const s = await encodeSection(codec, data, blockSize, es, 1, 3);
          t.is(s.rawLengths.length, Math.ceil(length / blockSize));
          const out = decodeSection(codec, s, blockSize);
          t.is(out.failure, null, `blockSize ${blockSize}, length ${length}, elementSize ${es}`);
          t.true(out.guards);
          t.true(equalBytes(out.bytes, data), `blockSize ${blockSize}, length ${length}, elementSize ${es}`);
        }
      }
    }
  });

  it(title('records the raw and the stored bytes\' hashes of the kind asked for (XXH64 or XXH3), with stored bytes at i * stride.'), async (t) => {
    const codec = await load();
    // xxHash's known answers, seed 0.
    const empty = new Uint8Array(0);
    const abc = new TextEncoder().encode('abc');
    t.is(codec.hash64(empty), 0xef46db3751d8e999n);
    t.is(codec.hash64(abc), 0x44bc2cf5ad770999n);
    t.is(codec.blockHash(empty, 'xxh64'), 0xef46db3751d8e999n);
    t.is(codec.blockHash(abc, 'xxh64'), 0x44bc2cf5ad770999n);
    t.is(codec.blockHash(empty, 'xxh3'), 0x2d06800538d394c2n);
    t.is(codec.blockHash(abc, 'xxh3'), 0x78af5f94892f3950n);
    const blockSize = 32 * KiB;
    const encoder = codec.createEncoder(blockSize, 4);
    const data = bytesOf(smoothField(64, 200, 5)).subarray(0, 3 * blockSize + 200);
    for (const hash of ['xxh64', 'xxh3'] as const) {
      const batch = await encoder.encode(data, 8, 1, hash);
      t.is(batch.count, 4);
      t.is(batch.stride, zstdCompressBound(blockSize));
      t.true(batch.stored.length >= 4 * batch.stride);
      for (let i = 0; i < batch.count; i++) {
        const raw = data.subarray(i * blockSize, Math.min((i + 1) * blockSize, data.length));
        t.is(batch.rawLengths[i], raw.length);
        t.is(batch.rawHashes[i], codec.blockHash(raw, hash), `${hash}, block ${i}`);
        const stored = batch.stored.subarray(i * batch.stride, i * batch.stride + batch.storedLengths[i]!);
        t.is(batch.storedHashes[i], codec.blockHash(stored, hash), `${hash}, block ${i}`);
      }
    }
    await t.throwsAsync(encoder.encode(data, 8, 1, 'md5' as never), { instanceOf: RangeError });
    t.throws(() => codec.blockHash(abc, 'toString' as never), { instanceOf: RangeError });
  });

  it(title('encoder reuses its staging buffers across calls.'), async (t) => {
    const codec = await load();
    const encoder = codec.createEncoder(16 * KiB, 3);
    t.is(encoder.blockSize, 16 * KiB);
    t.is(encoder.maxBlocks, 3);
    const a = await encoder.encode(randomBytes(40 * KiB, 1), 1, 1, 'xxh3');
    const b = await encoder.encode(new Uint8Array(20 * KiB), 4, 1, 'xxh3');
    const c = await encoder.encode(new Uint8Array(0), 8, 1, 'xxh3');
    t.is(a.count, 3);
    t.is(b.count, 2);
    t.is(c.count, 0);
    for (const key of ['stored', 'storedLengths', 'rawLengths', 'flags', 'rawHashes', 'storedHashes'] as const) {
      t.is(a[key], b[key], key);
      t.is(b[key], c[key], key);
    }
    const s = await encodeSection(codec, randomBytes(10 * 4 * KiB, 2), 4 * KiB, 1, 1, 2);
    t.is(s.storedBuffers.length, 5);
    t.true(s.storedBuffers.every((buffer) => buffer === s.storedBuffers[0]));
  });

  it(title('decodes blocks hashed with XXH64 (images of formats 1 and 2) only as XXH64, and XXH3 ones only as XXH3.'), async (t) => {
    const codec = await load();
    const blockSize = 4 * KiB;
    const data = bytesOf(smoothField(32, 64, 6)); // 4 blocks, plane-coded where the codec does
    for (const [hash, other] of [['xxh64', 'xxh3'], ['xxh3', 'xxh64']] as const) {
      const s = await encodeSection(codec, data, blockSize, 8, 1, 4, hash);
      const r = sectionRequest(s, blockSize);
      t.is(codec.decode(r), null, hash);
      t.true(equalBytes(r.dst.subarray(GUARD, GUARD + data.length), data), hash);
      t.deepEqual(codec.decode({ ...sectionRequest(s, blockSize), hash: other }), { index: 0, reason: 'stored-hash' }, `${hash} read as ${other}`);
    }
    const request = sectionRequest(await encodeSection(codec, data, blockSize, 8, 1), blockSize);
    t.throws(() => codec.decode({ ...request, hash: 'md5' as never }), { instanceOf: RangeError });
  });

  it(title('decodes with the ranges it checked even when the per-block arrays lie inside dst.'), async (t) => {
    const codec = await load();
    const blockSize = 4 * KiB;
    const data = bytesOf(smoothField(32, 64, 6)); // 4 blocks
    const s = await encodeSection(codec, data, blockSize, 8, 1);
    const n = s.rawLengths.length;
    const r = sectionRequest(s, blockSize);
    // The offsets and lengths live in the bytes block 0 writes, so after block 0 they read as
    // whatever the data is.
    const at = r.dstOffsets[0]! + 8;
    const srcOffsets = new Float64Array(r.dst.buffer, at, n);
    srcOffsets.set(s.srcOffsets);
    const rawLengths = new Uint32Array(r.dst.buffer, at + 8 * n, n);
    rawLengths.set(s.rawLengths);
    const failure = codec.decode({ ...r, srcOffsets, rawLengths });
    t.is(failure, null);
    t.true(guardsIntact(r, s.length));
    t.true(equalBytes(r.dst.subarray(64, 64 + data.length), data));
  });

  it(title('refuses encoder arguments outside the format with a RangeError.'), async (t) => {
    const codec = await load();
    for (const [blockSize, maxBlocks] of [[0, 1], [MAX_BLOCK_SIZE + 1, 1], [1.5, 1], [4096, 0], [4096, NaN]] as const) {
      t.throws(() => codec.createEncoder(blockSize, maxBlocks), { instanceOf: RangeError });
    }
    const encoder = codec.createEncoder(4 * KiB, 2);
    await t.throwsAsync(encoder.encode(new Uint8Array(8 * KiB + 1), 1, 1, 'xxh3'), { instanceOf: RangeError });
    await t.throwsAsync(encoder.encode(new Uint8Array(16), 3, 1, 'xxh3'), { instanceOf: RangeError });
    await t.throwsAsync(encoder.encode(new Uint8Array(16), 8, 23, 'xxh3'), { instanceOf: RangeError });
    await t.throwsAsync(encoder.encode(new Uint8Array(16), 8, 1.5, 'xxh3'), { instanceOf: RangeError });
    const batch = await encoder.encode(new Uint8Array(100), 1, 1, 'xxh3');
    await t.throwsAsync(encoder.encode(batch.stored.subarray(0, 100), 1, 1, 'xxh3'), { instanceOf: RangeError });
  });

  it(title('encodes at high and negative levels into frames it reads back.'), async (t) => {
    const codec = await load();
    const data = bytesOf(smoothField(256, 512, 9)); // 1 MiB
    for (const level of [-5, 0, 9, 19, 22]) {
      const s = await encodeSection(codec, data, MAX_BLOCK_SIZE, 8, level, 1);
      const out = decodeSection(codec, s, MAX_BLOCK_SIZE);
      t.is(out.failure, null, `level ${level}`);
      t.true(equalBytes(out.bytes, data), `level ${level}`);
    }
  });

  it(title('reports a flipped bit in the stored bytes as a stored-hash failure of that block.'), async (t) => {
    const codec = await load();
    const blockSize = 64 * KiB;
    const data = bytesOf(smoothField(128, 256, 4)); // 4 blocks
    const s = await encodeSection(codec, data, blockSize, 8, 1);
    for (const [block, at] of [[2, 0], [2, s.storedLengths[2]! - 1], [0, 17], [3, 100]] as const) {
      const image = s.image.slice();
      image[s.srcOffsets[block]! + at]! ^= 0x10;
      const r = sectionRequest({ ...s, image }, blockSize);
      t.deepEqual(codec.decode(r), { index: block, reason: 'stored-hash' });
      t.true(guardsIntact(r, s.length));
    }
    // A raw block too.
    const raw = await encodeSection(codec, randomBytes(2 * blockSize, 3), blockSize, 1, 1);
    const image = raw.image.slice();
    image[raw.srcOffsets[1]! + 5]! ^= 1;
    t.deepEqual(codec.decode(sectionRequest({ ...raw, image }, blockSize)), { index: 1, reason: 'stored-hash' });
  });

  it(title('decodes a coded block whose stored hash is wrong when its bytes decode to the raw hash (the stored hash only names a failure); a raw block, whose two hashes are one, is refused.'), async (t) => {
    const codec = await load();
    const blockSize = 64 * KiB;
    const data = bytesOf(smoothField(128, 256, 4)); // 4 blocks
    const s = await encodeSection(codec, data, blockSize, 8, 1);
    t.true(s.flags.every((f) => f !== 0), 'every block is coded');
    const storedHashes = s.storedHashes.slice();
    storedHashes[1]! ^= 1n;
    const r = sectionRequest({ ...s, storedHashes }, blockSize);
    t.is(codec.decode(r), null);
    t.true(equalBytes(r.dst.subarray(GUARD, GUARD + data.length), data));
    const raw = await encodeSection(codec, randomBytes(2 * blockSize, 3), blockSize, 1, 1);
    const rawStored = raw.storedHashes.slice();
    rawStored[1]! ^= 1n;
    t.deepEqual(codec.decode(sectionRequest({ ...raw, storedHashes: rawStored }, blockSize)), { index: 1, reason: 'stored-hash' });
  });

  it(title('reports a valid frame whose content does not match the raw hash as a raw-hash failure.'), async (t) => {
    const codec = await load();
    const blockSize = 64 * KiB;
    const s = await encodeSection(codec, bytesOf(smoothField(128, 192, 8)), blockSize, 8, 1);
    const rawHashes = s.rawHashes.slice();
    rawHashes[1] ^= 1n;
    const r = sectionRequest({ ...s, rawHashes }, blockSize);
    t.deepEqual(codec.decode(r), { index: 1, reason: 'raw-hash' });
    t.true(guardsIntact(r, s.length));

    // A well-formed frame of the wrong bytes, with a stored hash that matches it.
    const frame = rleFrame(4096, 7);
    const wrong = singleBlockRequest(frame, 4096, BLOCK_FLAG_ZSTD, codec.blockHash(frame, 'xxh3'), codec.blockHash(new Uint8Array(4096), 'xxh3'));
    t.deepEqual(codec.decode(wrong), { index: 0, reason: 'raw-hash' });
    t.true(guardsIntact(wrong, 4096));
  });

  it(title('decodes hand-built frames of raw and RLE blocks, with and without a checksum field.'), async (t) => {
    const codec = await load();
    const sevens = new Uint8Array(300 * KiB).fill(7);
    const rle = rleFrame(sevens.length, 7);
    let r = singleBlockRequest(rle, sevens.length, BLOCK_FLAG_ZSTD, codec.blockHash(rle, 'xxh3'), codec.blockHash(sevens, 'xxh3'));
    t.is(codec.decode(r), null);
    t.true(equalBytes(r.dst.subarray(64, 64 + sevens.length), sevens));

    // The checksum is the low 32 bits of XXH64 of the content, little-endian (RFC 8878, 3.1.1).
    const sum = codec.hash64(sevens) & 0xffffffffn; // zstd's frame checksum: the low 32 bits of XXH64
    const checksum = Uint8Array.from([0, 1, 2, 3], (k) => Number((sum >> BigInt(8 * k)) & 0xffn));
    const summed = rleFrame(sevens.length, 7, { checksum });
    r = singleBlockRequest(summed, sevens.length, BLOCK_FLAG_ZSTD, codec.blockHash(summed, 'xxh3'), codec.blockHash(sevens, 'xxh3'));
    t.is(codec.decode(r), null);
    t.true(equalBytes(r.dst.subarray(64, 64 + sevens.length), sevens));
    const wrongSum = rleFrame(sevens.length, 7, { checksum: checksum.map((b) => b ^ 1) });
    r = singleBlockRequest(wrongSum, sevens.length, BLOCK_FLAG_ZSTD, codec.blockHash(wrongSum, 'xxh3'), codec.blockHash(sevens, 'xxh3'));
    t.deepEqual(codec.decode(r), { index: 0, reason: 'decompress' }, 'a wrong checksum');

    const bytes = randomBytes(1000, 5);
    const single = buildFrame({ contentSize: 1000, fcsBytes: 2, singleSegment: true, blocks: [{ type: 0, size: 1000, content: bytes }] });
    r = singleBlockRequest(single, 1000, BLOCK_FLAG_ZSTD, codec.blockHash(single, 'xxh3'), codec.blockHash(bytes, 'xxh3'));
    t.is(codec.decode(r), null);
    t.true(equalBytes(r.dst.subarray(64, 1064), bytes));
  });

  it(title('reports garbage behind a matching stored hash as a decompress failure.'), async (t) => {
    const codec = await load();
    const rawLength = 64 * KiB;
    const zeroHash = codec.blockHash(new Uint8Array(rawLength), 'xxh3');
    const good = rleFrame(rawLength, 0);
    const cases: Array<[string, Uint8Array]> = [
      ['random bytes', randomBytes(5000, 9)],
      ['an empty stored block', new Uint8Array(0)],
      ['a lone magic number', good.subarray(0, 4)],
      ['a truncated frame', good.subarray(0, good.length - 1)],
      ['a frame with trailing bytes', Uint8Array.from([...good, 0, 0, 0, 0])],
      ['two frames', Uint8Array.from([...rleFrame(rawLength / 2, 0), ...rleFrame(rawLength / 2, 0)])],
      ['a compressed block of noise', buildFrame({ contentSize: rawLength, fcsBytes: 4, windowDescriptor: 0x50, blocks: [{ type: 2, size: 4000, content: randomBytes(4000, 3) }] })],
      ['a reserved block type', buildFrame({ contentSize: rawLength, fcsBytes: 4, blocks: [{ type: 3, size: 10, content: new Uint8Array(10) }] })],
      ['a frame that needs a dictionary', rleFrame(rawLength, 0, { dictionaryId: 0x1234 })],
      ['too little content', rleFrame(rawLength - 1, 0)],
      ['a content size smaller than the blocks', buildFrame({ contentSize: 10, fcsBytes: 4, windowDescriptor: 0x50, blocks: [{ type: 1, size: rawLength, content: Uint8Array.of(0) }] })],
    ];
    for (const [what, stored] of cases) {
      const r = singleBlockRequest(stored, rawLength, BLOCK_FLAG_ZSTD, codec.blockHash(stored, 'xxh3'), zeroHash);
      t.deepEqual(decodeOrRangeError(t, codec, r), { index: 0, reason: 'decompress' }, what);
      t.true(guardsIntact(r, rawLength), what);
    }
  });

  it(title('reports a frame that declares a too-large content size as a decompress failure, in bounded memory.'), async (t) => {
    const codec = await load();
    const rawLength = 64 * KiB;
    const zeroHash = codec.blockHash(new Uint8Array(rawLength), 'xxh3');
    const rssBefore = process.memoryUsage().rss;
    for (const contentSize of [rawLength + 1, 16 * 1024 * KiB, 64 * 1024 * KiB, 2 ** 32 - 1, 2 ** 40, 2 ** 53]) {
      for (const fcsBytes of [4, 8] as const) {
        if (fcsBytes === 4 && contentSize >= 2 ** 32) continue;
        for (const singleSegment of [false, true]) {
          const frame = rleFrame(rawLength, 0, { contentSize, fcsBytes, singleSegment });
          const r = singleBlockRequest(frame, rawLength, BLOCK_FLAG_ZSTD, codec.blockHash(frame, 'xxh3'), zeroHash);
          t.deepEqual(codec.decode(r), { index: 0, reason: 'decompress' }, `content size ${contentSize}`);
          t.true(guardsIntact(r, rawLength));
        }
      }
    }
    const grown = process.memoryUsage().rss - rssBefore;
    t.true(grown < 256 * 1024 * KiB, `rss grew by ${grown} bytes`);
  });

  it(title('reports undefined flags and raw blocks of the wrong length as decompress failures.'), async (t) => {
    const codec = await load();
    const bytes = randomBytes(4096, 4);
    const h = codec.blockHash(bytes, 'xxh3');
    for (const flags of [BLOCK_FLAG_SHUFFLE, BLOCK_FLAG_PLANES | BLOCK_FLAG_ZSTD, 8, 0x80, 0xff]) {
      const r = singleBlockRequest(bytes, 4096, flags, h, h, 8);
      t.deepEqual(codec.decode(r), { index: 0, reason: 'decompress' }, `flags ${flags}`);
      t.true(guardsIntact(r, 4096));
    }
    for (const rawLength of [4095, 4097]) {
      const r = singleBlockRequest(bytes, rawLength, 0, h, h);
      t.deepEqual(codec.decode(r), { index: 0, reason: 'decompress' }, `rawLength ${rawLength}`);
      t.true(guardsIntact(r, rawLength));
    }
  });

  it(title('refuses ranges outside src or dst without writing outside dst.'), async (t) => {
    const codec = await load();
    const blockSize = 16 * KiB;
    const s = await encodeSection(codec, bytesOf(smoothField(64, 96, 2)), blockSize, 8, 1);
    const n = s.rawLengths.length;
    const mutations: Array<[string, (r: DecodeRequest) => DecodeRequest]> = [
      ['src offset past the end', (r) => ({ ...r, srcOffsets: r.srcOffsets.map((v, i) => (i === 1 ? r.src.length + 1 : v)) })],
      ['stored range past the end', (r) => ({ ...r, srcOffsets: r.srcOffsets.map((v, i) => (i === n - 1 ? r.src.length - r.storedLengths[i]! + 1 : v)) })],
      ['negative src offset', (r) => ({ ...r, srcOffsets: r.srcOffsets.map((v, i) => (i === 0 ? -1 : v)) })],
      ['fractional src offset', (r) => ({ ...r, srcOffsets: r.srcOffsets.map((v, i) => (i === 0 ? v + 0.5 : v)) })],
      ['NaN src offset', (r) => ({ ...r, srcOffsets: r.srcOffsets.map((v, i) => (i === 0 ? NaN : v)) })],
      ['huge stored length', (r) => ({ ...r, storedLengths: r.storedLengths.map((v, i) => (i === 2 ? 0xffffffff : v)) })],
      ['dst offset past the end', (r) => ({ ...r, dstOffsets: r.dstOffsets.map((v, i) => (i === n - 1 ? r.dst.length - 1 : v)) })],
      ['negative dst offset', (r) => ({ ...r, dstOffsets: r.dstOffsets.map((v, i) => (i === 0 ? -8 : v)) })],
      ['infinite dst offset', (r) => ({ ...r, dstOffsets: r.dstOffsets.map((v, i) => (i === 0 ? Infinity : v)) })],
      ['raw length past dst', (r) => ({ ...r, rawLengths: r.rawLengths.map((v, i) => (i === n - 1 ? v + 65 : v)) })],
      ['raw length above 1 MiB', (r) => ({ ...r, rawLengths: r.rawLengths.map((v, i) => (i === 0 ? 0xffffffff : v)) })],
      ['count beyond the arrays', (r) => ({ ...r, count: n + 1 })],
      ['negative count', (r) => ({ ...r, count: -1 })],
      ['unknown element size', (r) => ({ ...r, elementSize: 3 })],
      ['two blocks writing the same bytes', (r) => ({ ...r, dstOffsets: r.dstOffsets.map((v, i) => (i === 2 ? r.dstOffsets[1]! + 8 : v)) })],
      ['src inside dst', (r) => {
        const dst = new Uint8Array(r.src.length + r.dst.length).fill(0xa5);
        dst.set(r.src, r.dst.length);
        return { ...r, dst: dst.subarray(0, r.dst.length + 1), src: dst.subarray(r.dst.length) };
      }],
    ];
    for (const [what, mutate] of mutations) {
      const r = mutate(sectionRequest(s, blockSize));
      const result = decodeOrRangeError(t, codec, r);
      t.not(result, null, what);
      t.true(guardsIntact(r, s.length), what);
    }
  });
}
