import test from 'ava';
import { Rng, normalizeSeed, seedState } from '../../src/determinism/rng.js';
import { attempt, tempDir } from '../job/harness.js';

// xoshiro128** by its definition, on plain unsigned words: the reference the fast version must match.
function reference(state: number[], count: number): number[] {
  const s = state.map((w) => w >>> 0);
  const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0);
    const t = (s[1]! << 9) >>> 0;
    s[2] = (s[2]! ^ s[0]!) >>> 0;
    s[3] = (s[3]! ^ s[1]!) >>> 0;
    s[1] = (s[1]! ^ s[2]!) >>> 0;
    s[0] = (s[0]! ^ s[3]!) >>> 0;
    s[2] = (s[2]! ^ t) >>> 0;
    s[3] = rotl(s[3]!, 11);
  }
  return out;
}

test('the generator is xoshiro128**: from state 1, 2, 3, 4 it gives the published first outputs', (t) => {
  const rng = new Rng(0n, Int32Array.from([1, 2, 3, 4]));
  const first = Array.from({ length: 4 }, () => rng.uint32());
  t.deepEqual(first, [11520, 0, 5927040, 70819200]);
  const long = new Rng(0n, Int32Array.from([1, 2, 3, 4]));
  t.deepEqual(Array.from({ length: 1000 }, () => long.uint32()), reference([1, 2, 3, 4], 1000));
});

test('a seed gives the same stream every time; nearby seeds give unrelated streams', (t) => {
  const a = new Rng(normalizeSeed(7));
  const b = new Rng(normalizeSeed(7n));
  const c = new Rng(normalizeSeed(8));
  const xa = Array.from({ length: 100 }, () => a.uint32());
  t.deepEqual(Array.from({ length: 100 }, () => b.uint32()), xa);
  const xc = Array.from({ length: 100 }, () => c.uint32());
  t.true(xa.filter((x, i) => x === xc[i]).length < 2);
  t.deepEqual(Array.from(seedState(normalizeSeed(-1))), Array.from(seedState((1n << 64n) - 1n)), 'seeds are taken modulo 2^64');
});

test('random() gives doubles in [0, 1) with 53 bits, int(n) covers [0, n) evenly, fill fills', (t) => {
  const rng = new Rng(normalizeSeed(1));
  let min = 1;
  let max = 0;
  let sum = 0;
  let fraction = false;
  for (let i = 0; i < 100_000; i++) {
    const x = rng.random();
    min = Math.min(min, x);
    max = Math.max(max, x);
    sum += x;
    // A double with fewer random bits would be a multiple of 2^-32 every time.
    if ((x * 2 ** 32) % 1 !== 0) fraction = true;
  }
  t.true(min >= 0 && max < 1);
  t.true(Math.abs(sum / 100_000 - 0.5) < 0.01);
  t.true(fraction);
  const counts = new Array(6).fill(0);
  for (let i = 0; i < 60_000; i++) counts[rng.int(6)]++;
  for (const c of counts) t.true(Math.abs(c - 10_000) < 500, `counts ${counts}`);
  t.is(new Rng(3n).int(1), 0);
  const filled = rng.fill(new Float64Array(10));
  t.true(filled.every((x) => x >= 0 && x < 1));
});

test('bad seeds, names and bounds are refused with TypeError or RangeError naming them', async (t) => {
  const { context } = await attempt(tempDir(t, 'rng'), false);
  t.throws(() => context.rng(1.5), { instanceOf: TypeError, message: /rng seed must be a safe integer or a bigint, got 1\.5/ });
  t.throws(() => context.rng('7' as unknown as number), { instanceOf: TypeError, message: /rng seed .* got string/ });
  t.throws(() => context.rng(1, ''), { instanceOf: TypeError, message: /rng name must be a non-empty string/ });
  context.rng(1, 'walkers');
  t.throws(() => context.rng(2, 'walkers'), { instanceOf: TypeError, message: /already has seed 1/ });
  t.throws(() => context.rng(1).int(0), { instanceOf: RangeError, message: /int\(n\): n must be a whole number from 1 to 2\^32/ });
  t.throws(() => context.rng(1).int(2 ** 33), { instanceOf: RangeError });
  t.throws(() => context.state('cr:rng', {}), { instanceOf: TypeError, message: /reserved for cr/ });
  await context.close();
});

test('cr.rng(seed) returns the same stream for the same seed, and a named stream is its own', async (t) => {
  const { context } = await attempt(tempDir(t, 'rng'), false);
  t.is(context.rng(5), context.rng(5n));
  t.not(context.rng(5), context.rng(5, 'other'));
  t.is(context.rng(), context.rng(), 'no arguments: the default stream');
  await context.close();
});

test('every stream, and the default one behind random(), continues after a restart exactly where the image left it', async (t) => {
  const dir = tempDir(t, 'rng');
  const first = await attempt(dir, false);
  const seeded = first.context.rng(42);
  const named = first.context.rng(42, 'second');
  const unused = first.context.rng(9);
  for (let i = 0; i < 1000; i++) {
    seeded.uint32();
    first.context.random();
  }
  named.random();
  t.truthy(await first.context.checkpoint({ force: true, durable: true }));
  // What an uninterrupted run draws next; drawn after the image, so lost with the attempt.
  const next = { seeded: [seeded.uint32(), seeded.uint32()], named: named.random(), random: first.context.random(), unused: unused.uint32() };
  const defaultSeed = first.context.rng().seed;
  await first.context.close();

  const second = await attempt(dir, true);
  t.is(second.context.rng().seed, defaultSeed);
  t.is(second.context.random(), next.random);
  t.deepEqual([second.context.rng(42).uint32(), second.context.rng(42).uint32()], next.seeded);
  t.is(second.context.rng(42, 'second').random(), next.named);
  t.is(second.context.rng(9).uint32(), next.unused);
  t.deepEqual(second.warnings, []);
  await second.context.close();
});

test('a stream the restarted attempt asks for with another seed under the same name starts over, with a warning', async (t) => {
  const dir = tempDir(t, 'rng');
  const first = await attempt(dir, false);
  first.context.rng(1, 'walk').uint32();
  await first.context.checkpoint({ force: true, durable: true });
  await first.context.close();
  const second = await attempt(dir, true);
  t.is(second.context.rng(2, 'walk').uint32(), new Rng(2n).uint32());
  t.regex(second.warnings.join('\n'), /cr\.rng\(2, "walk"\): the image has this stream with seed 1; it starts over/);
  await second.context.close();
});
