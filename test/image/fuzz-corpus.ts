// What the image fuzzer (fuzz.test.ts) works on and how it judges an outcome: real stores of real
// images written by the real checkpoint pipeline (JobContext → ImageWriter → LocalStore.commit)
// with each codec, the snapshot each image must restore to, and a restore that goes the way the
// worker goes (open with the store's key, verifyStored, RestoredImage, the job's states and
// regions) while it counts what the reader allocates.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { BlockCodec } from '../../src/codec/index.js';
import { CrError, ImageAuthError, ImageCorruptError, ImageVersionError, RegionMismatchError } from '../../src/errors.js';
import { MAX_MANIFEST_LENGTH, FOOTER_LENGTH, HEADER_LENGTH, zstdBound, type Manifest, type RegionConstructor } from '../../src/image/format.js';
import { ImageReader } from '../../src/image/reader.js';
import { ImageWriter } from '../../src/image/writer.js';
import { JobContext } from '../../src/job/context.js';
import { resolvePolicyOptions } from '../../src/policy.js';
import { allocateRegion } from '../../src/region.js';
import { RestoredImage } from '../../src/restore.js';
import { LocalStore } from '../../src/store/local-store.js';
import { seededRandom } from '../runner/helpers.js';
import { KiB, newKey, noise, smoothBytes } from './helpers.js';

/** Picks mutations from a seeded stream (test/runner/helpers.ts), so that a run replays from its seed. */
export class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = seededRandom(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** What the job registers: the layout a restore asks for. */
export const STATES = ['progress', 'notes'] as const;
export const REGIONS: { name: string; Ctor: RegionConstructor; length: number }[] = [
  { name: 'grid', Ctor: Float64Array, length: 1500 }, // 12000 B: 3 blocks of 4 KiB, shuffled zstd
  { name: 'mask', Ctor: Uint8Array, length: 9000 }, // noise: raw blocks
  { name: 'counts', Ctor: Int32Array, length: 2500 }, // small integers: zstd
];

/** What an image must restore to: the states' values and the regions' bytes at its safe point. */
export interface Snapshot {
  states: Record<string, unknown>;
  regions: Record<string, Uint8Array>;
}

export interface Image {
  job: string;
  sequence: number;
  file: string;
  snapshot: Snapshot;
  manifest: Manifest;
}

/** One store written with one codec: job "fuzz" (images 1 full, 2 and 3 incremental), job "other". */
export interface Corpus {
  codec: BlockCodec;
  store: LocalStore;
  key: Buffer;
  fuzz: Image[];
  other: Image[];
  /** Image 1 of job "fuzz" in a store with another key. */
  foreign: Image;
}

export const BLOCK_SIZE = 4 * KiB;

/** CR_FUZZ_SCALE=10 runs ten times the cases (for a longer hunt than CI's). */
export const FUZZ_SCALE = Math.max(1, Number(process.env.CR_FUZZ_SCALE ?? 1) || 1);
/** Runs of each fast-check property. */
export const PROPERTY_RUNS = 150 * FUZZ_SCALE;

/** One corpus per codec (the native one only when the addon loads), each in its own store under `root`. */
export async function buildCorpora(root: string, all: BlockCodec[]): Promise<Corpus[]> {
  const corpora: Corpus[] = [];
  for (const [i, codec] of all.entries()) corpora.push(await buildCorpus(root, codec, 11 + i));
  return corpora;
}

/**
 * Runs a small job through JobContext and takes `count` durable checkpoints, changing a few
 * blocks of each region between them, so images 2.. are incremental.
 */
async function takeImages(store: LocalStore, codec: BlockCodec, job: string, count: number, seed: number): Promise<Image[]> {
  const writer = new ImageWriter({ codec, key: store.key, level: 3, blockSize: BLOCK_SIZE, batchBlocks: 2, writerName: `cr fuzz (${codec.name})` });
  const context = new JobContext({
    job,
    attempt: 1,
    store,
    writer,
    restored: null,
    policy: resolvePolicyOptions({ intervalMs: null }),
    fullEvery: 8,
    dirty: 'hash',
    stagingBudgetBytes: 4 * 1024 * 1024,
    control: null,
    events: { progress: () => undefined, log: () => undefined, warning: () => undefined, checkpoint: () => undefined },
  });
  const history = new Float64Array(new Uint8Array(smoothBytes(700 * 8, seed)).buffer);
  const progress = context.state('progress', { step: 0, history, tags: new Map([['a', 1n]]), when: new Date(0) });
  const notes = context.state('notes', { text: ['start'], view: new Uint16Array(history.buffer, 8, 40) });
  const arrays = REGIONS.map((r) => context.region(r.name, r.Ctor, r.length));
  new Uint8Array(arrays[0]!.buffer, arrays[0]!.byteOffset, arrays[0]!.byteLength).set(smoothBytes(REGIONS[0]!.length * 8, seed + 1));
  (arrays[1] as Uint8Array).set(noise(REGIONS[1]!.length, seed + 2));
  for (let i = 0; i < REGIONS[2]!.length; i++) (arrays[2] as Int32Array)[i] = (i * seed) % 97;
  const images: Image[] = [];
  try {
    for (let k = 0; k < count; k++) {
      if (k > 0) {
        progress.step++;
        progress.history[k * 100] = -k;
        notes.text.push(`step ${k}`);
        (arrays[0] as Float64Array)[k * 600] = k; // one block of grid changes
        (arrays[1] as Uint8Array)[4096 * k + 1] ^= 0xff; // one block of mask
      }
      const info = await context.checkpoint({ force: true, durable: true });
      if (!info || !info.durable) throw new Error('test bug: the checkpoint was not durable');
      const snapshot: Snapshot = {
        states: { progress: structuredClone(progress), notes: structuredClone(notes) },
        regions: Object.fromEntries(REGIONS.map((r, i) => [r.name, new Uint8Array(arrays[i]!.buffer.slice(0, arrays[i]!.byteLength))])),
      };
      const manifest = ImageReader.open(info.file, { codec, key: store.key }).manifest;
      images.push({ job, sequence: info.sequence, file: info.file, snapshot, manifest });
    }
  } finally {
    await context.close();
  }
  if (images.length > 1 && images[1]!.manifest.parent === null) throw new Error('test bug: image 2 should be incremental');
  return images;
}

export async function buildCorpus(root: string, codec: BlockCodec, seed: number): Promise<Corpus> {
  const store = LocalStore.open({ dir: path.join(root, `store-${codec.name}`), keepImages: 10 });
  const fuzz = await takeImages(store, codec, 'fuzz', 3, seed);
  const other = await takeImages(store, codec, 'other', 1, seed + 100);
  const foreignStore = LocalStore.open({ dir: path.join(root, `foreign-${codec.name}`), keyFile: null });
  const [foreign] = await takeImages(foreignStore, codec, 'fuzz', 1, seed + 200);
  return { codec, store, key: store.key, fuzz, other, foreign: foreign! };
}

/** A key that is no store's: what an attacker without the key signs with. */
export const attackerKey = newKey();

/** SHA-256 of every file under `dir`, by relative path: a committed image must never change. */
export function hashTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else out.set(path.relative(dir, p), createHash('sha256').update(fs.readFileSync(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

/** Bytes allocated through Buffer's allocators while `fn` runs (the reader's header, footer, manifest and staging). */
export function countBufferAllocations<T>(fn: () => T): { result: T; bytes: number; largest: number } | { error: unknown; bytes: number; largest: number } {
  const saved = { alloc: Buffer.alloc, allocUnsafe: Buffer.allocUnsafe, allocUnsafeSlow: Buffer.allocUnsafeSlow };
  let bytes = 0;
  let largest = 0;
  const note = (n: number): void => {
    bytes += n;
    largest = Math.max(largest, n);
  };
  Buffer.alloc = ((size: number, ...rest: never[]) => (note(size), saved.alloc.call(Buffer, size, ...rest))) as typeof Buffer.alloc;
  Buffer.allocUnsafe = ((size: number) => (note(size), saved.allocUnsafe.call(Buffer, size))) as typeof Buffer.allocUnsafe;
  Buffer.allocUnsafeSlow = ((size: number) => (note(size), saved.allocUnsafeSlow.call(Buffer, size))) as typeof Buffer.allocUnsafeSlow;
  try {
    return { result: fn(), bytes, largest };
  } catch (error) {
    return { error, bytes, largest };
  } finally {
    Object.assign(Buffer, saved);
  }
}

/**
 * The documented bound (docs/image-format.md, "Memory a reader allocates") on what opening an
 * image of `size` bytes may allocate through buffers: its header, footer and manifest, never
 * more than the file holds nor more than the manifest limit.
 */
export function openBound(size: number): number {
  return HEADER_LENGTH + FOOTER_LENGTH + Math.max(0, Math.min(size - HEADER_LENGTH - FOOTER_LENGTH, MAX_MANIFEST_LENGTH));
}

/** The bound for a whole restore: every image opened (this one and its bases), plus one batch of staging. */
export function restoreBound(sizes: number[], blockSize: number, batchBlocks = 16): number {
  return sizes.reduce((sum, s) => sum + openBound(s), 0) + batchBlocks * zstdBound(blockSize);
}

export type Outcome =
  | { kind: 'refused'; error: CrError }
  | { kind: 'restored'; job: string; sequence: number; snapshot: Snapshot };

/** The typed errors an image may be refused with, by anyone. */
export function isImageError(err: unknown): err is CrError {
  return (
    (err instanceof ImageCorruptError && err.code === 'CR_IMAGE_CORRUPT') ||
    (err instanceof ImageAuthError && err.code === 'CR_IMAGE_AUTH') ||
    (err instanceof ImageVersionError && err.code === 'CR_IMAGE_VERSION')
  );
}

/**
 * Restores `file` as the worker does for job `expect.job` (and, from the store, `expect.sequence`):
 * open with the key, verifyStored, decode the states, and each region the job asks for. Throws
 * anything that is not a typed refusal: that is a bug the fuzzer reports.
 */
export interface Measured {
  /** Buffer bytes the whole restore allocated, and the bound it must stay within. */
  bytes: number;
  bound: number;
  /** Buffer bytes ImageReader.open allocated, and the file's size (openBound applies). */
  openBytes: number;
  size: number;
}

export function restore(file: string, codec: BlockCodec, key: Buffer, expect: { job: string; sequence?: number }, allowMismatch = false): Outcome & Measured {
  let bound = 0;
  let opened: { bytes: number; size: number } | null = null;
  const counted = countBufferAllocations(() => {
    const open = countBufferAllocations(() => ImageReader.open(file, { codec, key, expect }));
    opened = { bytes: open.bytes, size: fs.statSync(file).size };
    if ('error' in open) throw open.error;
    const reader = open.result;
    let restored: RestoredImage | null = null;
    try {
      reader.verifyStored();
      restored = new RestoredImage(reader);
      // A base the manifest lists but no block uses is never opened, and may be absent.
      const baseSize = (b: number): number => fs.statSync(path.join(path.dirname(file), `${String(b).padStart(8, '0')}.crimg`), { throwIfNoEntry: false })?.size ?? 0;
      const sizes = [reader.size, ...reader.manifest.bases.map(baseSize)];
      bound = restoreBound(sizes, reader.manifest.blockSize);
      const snapshot: Snapshot = { states: {}, regions: {} };
      for (const name of STATES) {
        const state = restored.state(name);
        if (state) snapshot.states[name] = state.value;
      }
      for (const r of REGIONS) {
        if (!restored.hasRegion(r.name)) continue;
        const memory = allocateRegion(r.name, r.Ctor, r.length);
        try {
          restored.restoreRegion(r.name, r.Ctor.name, r.length, memory);
          snapshot.regions[r.name] = new Uint8Array(memory.bytes);
        } finally {
          memory.free();
        }
      }
      return { kind: 'restored' as const, job: reader.manifest.job, sequence: reader.manifest.sequence, snapshot };
    } finally {
      if (restored) restored.close();
      else reader.close();
    }
  });
  if ('error' in counted) {
    const err = counted.error;
    if (isImageError(err) || (allowMismatch && err instanceof RegionMismatchError)) {
      return { kind: 'refused', error: err, bytes: counted.bytes, bound: bound || openBoundOf(file), ...openFigures(opened) };
    }
    throw err;
  }
  return { ...counted.result, bytes: counted.bytes, bound, ...openFigures(opened) };
}

function openFigures(opened: { bytes: number; size: number } | null): { openBytes: number; size: number } {
  return { openBytes: opened?.bytes ?? 0, size: opened?.size ?? 0 };
}

/** When a restore is refused before it learns the manifest, only the open bound applies. */
function openBoundOf(file: string): number {
  try {
    return openBound(fs.statSync(file).size) + 16 * zstdBound(1024 * 1024);
  } catch {
    return 0;
  }
}

export function sameSnapshot(a: Snapshot, b: Snapshot): boolean {
  return isDeepStrictEqual(a, b);
}
