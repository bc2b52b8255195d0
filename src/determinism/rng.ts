// Seedable random streams whose state is part of every image, so a restarted Monte Carlo job
// draws exactly the numbers an uninterrupted run would have drawn.
//
// The generator is xoshiro128** (Blackman & Vigna, "Scrambled linear pseudorandom number
// generators", 2018): 128 bits of state, period 2^128 − 1, 32-bit outputs that pass BigCrush,
// and only 32-bit integer operations (Math.imul, shifts), which V8 compiles to machine
// instructions. The state is seeded through splitmix64, as its authors recommend, so that
// nearby seeds (0, 1, 2...) give unrelated streams.
import { randomFillSync } from 'node:crypto';
import { checkName } from '../capture/registration.js';

/** A seed: a safe integer or a bigint, taken modulo 2^64. */
export type Seed = number | bigint;

const MASK64 = (1n << 64n) - 1n;
const TWO_26 = 67108864;
const TWO_53 = 9007199254740992;
const TWO_32 = 4294967296;

/** splitmix64 (Steele, Lea & Flood): expands a 64-bit seed into a sequence of well-mixed words. */
function splitmix64(seed: bigint): () => bigint {
  let z = seed;
  return () => {
    z = (z + 0x9e3779b97f4a7c15n) & MASK64;
    let x = z;
    x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return x ^ (x >> 31n);
  };
}

/** Checks a seed and reduces it to the unsigned 64-bit value that seeds the state. */
export function normalizeSeed(seed: unknown, what = 'seed'): bigint {
  if (typeof seed === 'bigint') return BigInt.asUintN(64, seed);
  if (typeof seed === 'number' && Number.isSafeInteger(seed)) return BigInt.asUintN(64, BigInt(seed));
  throw new TypeError(`${what} must be a safe integer or a bigint, got ${typeof seed === 'number' ? String(seed) : typeof seed}`);
}

/** The 128-bit state that `seed` starts from, as four 32-bit words (never all zero). */
export function seedState(seed: bigint): Int32Array {
  const next = splitmix64(seed);
  const state = new Int32Array(4);
  for (let i = 0; i < 4; i += 2) {
    const word = next();
    state[i] = Number(word & 0xffffffffn) | 0;
    state[i + 1] = Number(word >> 32n) | 0;
  }
  // The all-zero state is xoshiro's one fixed point; splitmix64 practically never yields it.
  if ((state[0]! | state[1]! | state[2]! | state[3]!) === 0) state[0] = 1;
  return state;
}

/** One random stream. Obtain it from `cr.rng(seed)`; cr captures its state at each checkpoint. */
export class Rng {
  /** The seed the stream started from, reduced modulo 2^64. */
  readonly seed: bigint;
  /** The four xoshiro128** state words (signed 32-bit storage of unsigned words). */
  readonly #s: Int32Array;

  constructor(seed: bigint, state: Int32Array = seedState(seed)) {
    this.seed = seed;
    this.#s = state;
  }

  /** The next 32-bit output, an integer in [0, 2^32). */
  uint32(): number {
    const s = this.#s;
    const s0 = s[0]!;
    const s1 = s[1]!;
    const s2 = s[2]! ^ s0;
    const s3 = s[3]! ^ s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    s[0] = s0 ^ s3;
    s[1] = s1 ^ s2;
    s[2] = s2 ^ (s1 << 9);
    s[3] = rotl(s3, 11);
    return result;
  }

  /** A double in [0, 1) with 53 random bits (two outputs: 27 + 26 bits). */
  random(): number {
    const hi = this.uint32() >>> 5;
    const lo = this.uint32() >>> 6;
    return (hi * TWO_26 + lo) / TWO_53;
  }

  /** An integer in [0, n), without modulo bias; n is a whole number from 1 to 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_32) throw new RangeError(`int(n): n must be a whole number from 1 to 2^32, got ${String(n)}`);
    // Outputs at or above the largest multiple of n below 2^32 are redrawn (at most half of them).
    const limit = TWO_32 - (TWO_32 % n);
    for (;;) {
      const x = this.uint32();
      if (x < limit) return x % n;
    }
  }

  /** Fills `array` with doubles in [0, 1) (the same numbers as calling random() for each element). */
  fill(array: Float64Array | Float32Array): typeof array {
    if (!(array instanceof Float64Array || array instanceof Float32Array)) throw new TypeError('fill(array): array must be a Float64Array or Float32Array');
    for (let i = 0; i < array.length; i++) array[i] = this.random();
    return array;
  }

  /** Internal: a copy of the state, for capture. */
  snapshot(): [number, number, number, number] {
    const s = this.#s;
    return [s[0]!, s[1]!, s[2]!, s[3]!];
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** How a stream is kept in the image: its seed and its state when the image was taken. */
interface StreamRecord {
  seed: bigint;
  state: [number, number, number, number];
}

/** The registered state "cr:rng": every stream the job has used, by key. */
export interface RngStateValue {
  streams: Map<string, StreamRecord>;
}

export const RNG_STATE_NAME = 'cr:rng';
const DEFAULT_KEY = 'default';

/**
 * The streams of one job attempt. A stream is identified by its name when the job gives one, else
 * by its seed, so that `cr.rng(seed)` called again after a restart (in whatever order the job
 * calls it) finds the stream that seed started; the stream behind `cr.random()` is "default",
 * seeded from the OS's randomness on a fresh start.
 */
export class RngRegistry {
  /** What the image holds: updated from the live streams at each capture. */
  readonly value: RngStateValue;
  readonly #live = new Map<string, Rng>();
  readonly #warning: (message: string) => void;
  #default: Rng | null = null;

  constructor(restored: unknown, warning: (message: string) => void) {
    this.value = isRngState(restored) ? restored : { streams: new Map() };
    this.#warning = warning;
  }

  /** The stream behind `cr.random()`. */
  get default(): Rng {
    return (this.#default ??= this.#stream(DEFAULT_KEY, null, 'cr.random()'));
  }

  /** `cr.rng(seed, name)`: the stream of that seed (or name), continued where the image left it. */
  get(seed: unknown, name: unknown): Rng {
    if (seed === undefined && name === undefined) return this.default;
    if (name !== undefined) checkName('rng', name);
    const value = normalizeSeed(seed, 'rng seed');
    const key = name === undefined ? `seed:${value}` : `name:${name}`;
    return this.#stream(key, value, name === undefined ? `cr.rng(${value})` : `cr.rng(${value}, ${JSON.stringify(name)})`);
  }

  #stream(key: string, seed: bigint | null, what: string): Rng {
    const live = this.#live.get(key);
    if (live) {
      if (seed !== null && live.seed !== seed) throw new TypeError(`${what}: the stream named by that name already has seed ${live.seed}`);
      return live;
    }
    const saved = this.value.streams.get(key);
    let rng: Rng;
    if (saved && (seed === null || saved.seed === seed)) {
      rng = new Rng(saved.seed, Int32Array.from(saved.state));
    } else {
      if (saved) this.#warning(`${what}: the image has this stream with seed ${saved.seed}; it starts over from the new seed`);
      rng = new Rng(seed ?? randomSeed());
      this.value.streams.set(key, { seed: rng.seed, state: rng.snapshot() });
    }
    this.#live.set(key, rng);
    return rng;
  }

  /** At a safe point that takes an image: records every live stream's state. */
  capture(): void {
    for (const [key, rng] of this.#live) this.value.streams.set(key, { seed: rng.seed, state: rng.snapshot() });
  }
}

function randomSeed(): bigint {
  return randomFillSync(new BigUint64Array(1))[0]!;
}

function isRngState(value: unknown): value is RngStateValue {
  if (typeof value !== 'object' || value === null || !((value as RngStateValue).streams instanceof Map)) return false;
  for (const record of (value as RngStateValue).streams.values()) {
    if (typeof record?.seed !== 'bigint' || !Array.isArray(record.state) || record.state.length !== 4) return false;
    if (!record.state.every((w) => Number.isInteger(w))) return false;
  }
  return true;
}
