import test from 'ava';
import { shuffle, unshuffle } from '../../src/codec/index.js';
import { randomBytes, referenceShuffle, equalBytes } from './helpers.js';

const LENGTHS = [0, 1, 2, 3, 7, 8, 9, 15, 17, 1000, 1001, 4096, 4099, 65536 + 5];

test('shuffle and unshuffle follow the format formula and invert each other.', (t) => {
  for (const es of [1, 2, 3, 4, 8, 16]) {
    for (const length of LENGTHS) {
      const src = randomBytes(length, length + es);
      const shuffled = new Uint8Array(length);
      shuffle(src, shuffled, es);
      t.true(equalBytes(shuffled, referenceShuffle(src, es)), `es ${es}, length ${length}`);
      const back = new Uint8Array(length);
      unshuffle(shuffled, back, es);
      t.true(equalBytes(back, src), `es ${es}, length ${length}`);
    }
  }
});

test('shuffle works on views at odd offsets and leaves the rest of dst alone.', (t) => {
  const backing = randomBytes(10_000, 3);
  const src = backing.subarray(3, 3 + 4099);
  const out = new Uint8Array(5000).fill(0xee);
  const dst = out.subarray(1, 1 + 4099);
  shuffle(src, dst, 8);
  t.true(equalBytes(dst, referenceShuffle(src, 8)));
  t.is(out[0], 0xee);
  t.true(out.subarray(1 + 4099).every((b) => b === 0xee));
});

test('shuffle refuses overlapping views, a short dst and bad element sizes.', (t) => {
  const buffer = new Uint8Array(100);
  t.throws(() => shuffle(buffer.subarray(0, 50), buffer.subarray(10, 60), 4), { instanceOf: RangeError });
  t.throws(() => unshuffle(buffer, buffer, 8), { instanceOf: RangeError });
  t.notThrows(() => shuffle(buffer.subarray(0, 50), buffer.subarray(50, 100), 4));
  t.throws(() => shuffle(new Uint8Array(10), new Uint8Array(9), 2), { instanceOf: RangeError });
  t.throws(() => shuffle(new Uint8Array(10), new Uint8Array(10), 0), { instanceOf: RangeError });
  t.throws(() => shuffle(new Uint8Array(10), new Uint8Array(10), 2.5), { instanceOf: RangeError });
});

test('shuffle gives the same bytes from aligned and unaligned views.', (t) => {
  // Aligned views with a multiple of 4 elements take the word loops, the others the byte loops.
  for (const es of [2, 4, 8]) {
    for (const length of [16 * es, 4096, 4096 + 3, 65536 + es * 4 + 1]) {
      const data = randomBytes(length, es + length);
      const aligned = new Uint8Array(length);
      aligned.set(data);
      const unalignedBacking = new Uint8Array(length + 1);
      const unaligned = unalignedBacking.subarray(1);
      unaligned.set(data);
      const a = new Uint8Array(length);
      const u = new Uint8Array(length + 3).subarray(3);
      shuffle(aligned, a, es);
      shuffle(unaligned, u, es);
      t.true(equalBytes(a, u), `shuffle es ${es}, length ${length}`);
      t.true(equalBytes(a, referenceShuffle(data, es)));
      const a2 = new Uint8Array(length);
      const u2 = new Uint8Array(length + 1).subarray(1);
      unshuffle(a, a2, es);
      unshuffle(u, u2, es);
      t.true(equalBytes(a2, data), `unshuffle es ${es}, length ${length}`);
      t.true(equalBytes(u2, data), `unshuffle es ${es}, length ${length}`);
    }
  }
});
