// copyBlocks (native/src/staging.cc): the staging copy of a checkpoint. Exact bytes at the
// offsets it reports, runs of consecutive blocks side by side, skipped blocks untouched, a short
// last block, the parallel path (copyParallelBytes and more), non-temporal stores into memory
// already written and plain ones into fresh memory, and every bounds error before a byte moves.
import test from 'ava';
import fc from 'fast-check';
import { copyBlocksPortable } from '../../src/capture/staging.js';
import { loadNative } from '../../src/native/binding.js';
import { randomBytes } from './data.js';

const { binding, reason } = loadNative();
if (!binding) throw new Error(`the native addon must build and load for these tests: ${reason}`);
const native = binding;
const MiB = 1024 * 1024;

/** What copyBlocks must do, the slow and obvious way: the expected dst, slots and end offset. */
function reference(src: Uint8Array, blockSize: number, blocks: Uint8Array | null, dstLength: number, at: number, fill: number) {
  const dst = new Uint8Array(dstLength).fill(fill);
  const count = Math.ceil(src.length / blockSize);
  const slots = new Float64Array(count);
  for (let b = 0; b < count; b++) {
    if (blocks !== null && blocks[b] === 0) {
      slots[b] = -1;
      continue;
    }
    slots[b] = at;
    for (let i = b * blockSize; i < Math.min(src.length, (b + 1) * blockSize); i++) dst[at++] = src[i]!;
  }
  return { dst, slots, end: at };
}

test('copyBlocks copies the chosen blocks side by side from dstOffset, with a short last block, and says where each went.', (t) => {
  const src = randomBytes(10 * 1000 + 123, 7); // 11 blocks of 1000 bytes, the last of 123
  const blocks = Uint8Array.from([1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1]);
  const dst = new Uint8Array(new SharedArrayBuffer(9000)).fill(0xee);
  const slots = new Float64Array(11);
  const end = native.copyBlocks(src, 1000, blocks, dst, 37, slots);
  const want = reference(src, 1000, blocks, 9000, 37, 0xee);
  t.is(end, 37 + 6 * 1000 + 123);
  t.is(end, want.end);
  t.deepEqual([...slots], [37, 1037, -1, 2037, -1, -1, 3037, 4037, 5037, -1, 6037]);
  t.deepEqual(dst, want.dst, 'the bytes before dstOffset and after the end are untouched');
});

test('copyBlocks with blocks null copies the whole source, and with no blocks chosen copies nothing.', (t) => {
  const src = randomBytes(5000, 3);
  const dst = new Uint8Array(6000);
  const slots = new Float64Array(3);
  t.is(native.copyBlocks(src, 2048, null, dst, 1000, slots), 6000);
  t.deepEqual([...slots], [1000, 3048, 5096]);
  t.deepEqual(dst.subarray(1000), src);
  const none = new Uint8Array(6000).fill(9);
  t.is(native.copyBlocks(src, 2048, new Uint8Array(3), none, 17, slots), 17);
  t.deepEqual([...slots], [-1, -1, -1]);
  t.true(none.every((v) => v === 9));
  t.is(native.copyBlocks(new Uint8Array(0), 2048, null, none, 6000, new Float64Array(0)), 6000, 'an empty source at the very end of dst');
});

test('copyBlocks and its portable twin agree with the reference on any blocks, sizes and offsets.', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 5000 }),
      fc.integer({ min: 1, max: 700 }),
      fc.integer({ min: 0, max: 300 }),
      fc.boolean(),
      fc.integer(),
      (length, blockSize, at, everyBlock, seed) => {
        const src = randomBytes(length, seed);
        const count = Math.ceil(length / blockSize);
        const blocks = everyBlock ? null : Uint8Array.from(randomBytes(count, seed ^ 0x5a5a), (v) => v & 1);
        const want = reference(src, blockSize, blocks, at + length + 5, at, 0xab);
        for (const copy of [native.copyBlocks, copyBlocksPortable]) {
          const dst = new Uint8Array(at + length + 5).fill(0xab);
          const slots = new Float64Array(count).fill(123);
          t.is(copy(src, blockSize, blocks, dst, at, slots), want.end);
          t.deepEqual(slots, want.slots);
          t.deepEqual(dst, want.dst);
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('copyBlocks of 300 MiB (copied by the addon\'s threads and the caller together) is exact, skipped blocks and all.', (t) => {
  t.true(native.copyParallelBytes <= 299 * MiB - 1, 'the second run is long enough to be copied in parallel');
  const blockSize = MiB;
  const src = new Uint8Array(300 * MiB + 12345);
  const words = new Uint32Array(src.buffer, 0, Math.floor(src.length / 4));
  for (let i = 0; i < words.length; i++) words[i] = Math.imul(i, 2654435761) >>> 0;
  const count = Math.ceil(src.length / blockSize);
  const blocks = new Uint8Array(count).fill(1);
  blocks[5] = 0; // two runs: the second one is still over 256 MiB
  const dst = new Uint8Array(new SharedArrayBuffer(src.length + 64));
  const slots = new Float64Array(count);
  const end = native.copyBlocks(src, blockSize, blocks, dst, 64, slots);
  t.is(end, 64 + src.length - blockSize);
  t.is(slots[5], -1);
  t.is(slots[6], 64 + 5 * blockSize);
  t.is(slots[count - 1], end - 12345);
  const out = Buffer.from(dst.buffer, dst.byteOffset, dst.length);
  const from = Buffer.from(src.buffer);
  t.true(out.subarray(64, 64 + 5 * blockSize).equals(from.subarray(0, 5 * blockSize)));
  t.true(out.subarray(64 + 5 * blockSize, end).equals(from.subarray(6 * blockSize)));
});

test('copyBlocks is exact into memory already written (non-temporal stores) and into fresh memory (plain ones), at offsets on and off the 16-byte alignment, on the caller alone and in parallel.', (t) => {
  const small = native.copyParallelBytes - 4097;
  const large = native.copyParallelBytes + 2 * MiB + 77;
  for (const length of [small, large]) {
    const src = randomBytes(length, length);
    for (const written of [false, true]) {
      for (const at of [64, 3]) {
        const dst = new Uint8Array(new SharedArrayBuffer(length + 128));
        if (written) dst.fill(0xee);
        const slots = new Float64Array(Math.ceil(length / MiB));
        t.is(native.copyBlocks(src, MiB, null, dst, at, slots), at + length);
        const out = Buffer.from(dst.buffer, dst.byteOffset, dst.length);
        const what = `${length} bytes into ${written ? 'written' : 'fresh'} memory at ${at}`;
        t.true(out.subarray(at, at + length).equals(Buffer.from(src.buffer, src.byteOffset, src.length)), what);
        t.is(out[at - 1], written ? 0xee : 0, `${what}: the byte before is untouched`);
        t.is(out[at + length], written ? 0xee : 0, `${what}: the byte after is untouched`);
      }
    }
  }
});

test('copyBlocks refuses, before writing anything, blocks or slots of the wrong length, a dst too short, an offset outside it and overlaps.', (t) => {
  const src = randomBytes(4096, 1);
  const dst = new Uint8Array(5000).fill(1);
  const refuse = (f: () => unknown, message: RegExp, Type: typeof Error = RangeError): void => {
    t.throws(f, { instanceOf: Type, message });
    t.true(dst.every((v) => v === 1), `dst untouched after ${String(message)}`);
  };
  refuse(() => native.copyBlocks(src, 1024, new Uint8Array(3), dst, 0, new Float64Array(4)), /copyBlocks: blocks has 3 entries, src has 4 blocks/);
  refuse(() => native.copyBlocks(src, 1024, null, dst, 0, new Float64Array(5)), /copyBlocks: slots has 5 entries, src has 4 blocks/);
  refuse(() => native.copyBlocks(src, 1024, null, dst, 1000, new Float64Array(4)), /copyBlocks: the 4096 staged bytes do not fit dst at offset 1000 \(5000 bytes\)/);
  refuse(() => native.copyBlocks(src, 1024, null, dst, 5001, new Float64Array(4)), /copyBlocks: dstOffset must be an integer in \[0, 5000\], got 5001/);
  refuse(() => native.copyBlocks(src, 1024, null, dst, 1.5, new Float64Array(4)), /copyBlocks: dstOffset must be an integer/);
  refuse(() => native.copyBlocks(src, 0, null, dst, 0, new Float64Array(4)), /copyBlocks: blockSize must be an integer/);
  refuse(() => native.copyBlocks(src as unknown as Uint8Array, 1024, null, new Float64Array(10) as unknown as Uint8Array, 0, new Float64Array(4)), /copyBlocks: dst must be a Uint8Array, got Float64Array/, TypeError);
  refuse(() => native.copyBlocks(src, 1024, [1, 1, 1, 1] as unknown as Uint8Array, dst, 0, new Float64Array(4)), /copyBlocks: blocks must be a Uint8Array, got object/, TypeError);
  const shared = new Uint8Array(10000);
  t.throws(() => native.copyBlocks(shared.subarray(0, 4096), 1024, null, shared.subarray(4000), 0, new Float64Array(4)), { instanceOf: RangeError, message: /src and dst overlap/ });
  const slotsInside = new Float64Array(shared.buffer, 8192, 4);
  t.throws(() => native.copyBlocks(src, 1024, null, shared.subarray(4096), 0, slotsInside), { instanceOf: RangeError, message: /blocks or slots lie inside dst/ });
});
