// What the bench's measurements share: a job context as the runner's worker builds one (without a
// worker), a forced checkpoint timed as the job sees it, a restart from the store's latest image,
// and medians.
import fs from 'node:fs';
import type { BlockCodec } from '../src/codec/types.js';
import { blockHashOf, DEFAULT_BLOCK_SIZE, FORMAT_VERSION } from '../src/image/format.js';
import { ImageWriter } from '../src/image/writer.js';
import { JobContext, type ImageCommitted } from '../src/job/context.js';
import { resolvePolicyOptions } from '../src/policy.js';
import { RestoredImage } from '../src/restore.js';
import { allocateRegion } from '../src/region.js';
import type { LocalStore } from '../src/store/local-store.js';
import { median } from './stats.js';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/**
 * A forced checkpoint that returns after capture; its figures once the image is durable, with
 * `pauseMs` as the job sees it: from the call until its promise resolved (what checkpoint()
 * reports stops before the hand-over to the writer thread and the promise's resolution).
 */
export async function take(ctx: JobContext): Promise<ImageCommitted> {
  const t0 = performance.now();
  const info = await ctx.checkpoint({ force: true });
  const pauseMs = performance.now() - t0;
  if (!info) throw new Error('a forced checkpoint took no image');
  return { ...(await info.committed), pauseMs };
}

/** Checkpoints until one is staged (its staging memory is warm), so that the next ones measure the steady state. */
export async function warmStaging(ctx: JobContext): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const info = await ctx.checkpoint({ force: true });
    if (!info) throw new Error('a forced checkpoint took no image');
    await info.committed;
    if (!info.durable) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('staging memory never became warm');
}

export interface ContextSettings {
  restored?: RestoredImage | null;
  /** Default 1: every image full, so rows measure full images. */
  fullEvery?: number;
  dirty?: 'auto' | 'hash';
  /** Default 'stage': the region rows measure staging; the copy-on-write line asks for 'cow'. */
  capture?: 'auto' | 'cow' | 'stage';
  stagingBudgetBytes?: number;
  intervalMs?: number | null;
  control?: Int32Array | null;
}

/** The image writer's settings in the bench: level 1, the default block size, 8 blocks per batch. */
const WRITER = { level: 1, blockSize: DEFAULT_BLOCK_SIZE, batchBlocks: 8 };

/**
 * Encoding alone, as the image writer encodes (two encoders on the addon's background threads,
 * a batch queued on each, level 1, float64 elements): every block of `data`, nothing written.
 * The commit's encoding time, for holding the commit against the larger of it and the disk's.
 */
export async function encodeOnlyMs(codec: BlockCodec, data: Uint8Array): Promise<number> {
  const encoders = [0, 1].map(() => codec.createEncoder(WRITER.blockSize, WRITER.batchBlocks, { background: true }));
  const batch = WRITER.blockSize * WRITER.batchBlocks;
  const t0 = performance.now();
  const inFlight: Promise<unknown>[] = [];
  for (let k = 0, at = 0; at < data.length; k++, at += batch) {
    if (inFlight.length === 2) await inFlight.shift();
    inFlight.push(encoders[k % 2]!.encode(data.subarray(at, Math.min(data.length, at + batch)), 8, WRITER.level, blockHashOf(FORMAT_VERSION)));
  }
  await Promise.all(inFlight);
  return performance.now() - t0;
}

/** A job context as the runner's worker builds one, without a worker. */
export function newContext(codec: BlockCodec, store: LocalStore, job: string, settings: ContextSettings = {}): JobContext {
  const writer = new ImageWriter({ codec, key: store.key, ...WRITER, writerName: 'bench' });
  return new JobContext({
    job,
    attempt: 1,
    store,
    writer,
    restored: settings.restored ?? null,
    policy: resolvePolicyOptions({ intervalMs: settings.intervalMs ?? null }),
    fullEvery: settings.fullEvery ?? 1,
    dirty: settings.dirty ?? 'auto',
    capture: settings.capture ?? 'stage',
    stagingBudgetBytes: settings.stagingBudgetBytes,
    control: settings.control ?? null,
    events: { progress: () => undefined, log: () => undefined, warning: () => undefined, checkpoint: () => undefined },
  });
}

/** This process's anonymous memory backed by transparent huge pages, bytes (0 where /proc does not say). */
export function anonHugeBytes(): number {
  try {
    const kib = /^AnonHugePages:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1];
    return kib === undefined ? 0 : Number(kib) * 1024;
  } catch {
    return 0;
  }
}

/** A first touch of `bytes` of fresh region memory, one write per page, timed; and whether huge pages backed it. The memory is freed. */
export function firstTouch(bytes: number): { ms: number; huge: boolean } {
  const huge0 = anonHugeBytes();
  const fresh = allocateRegion('touch', Uint8Array, bytes);
  const t0 = performance.now();
  for (let i = 0; i < fresh.bytes.length; i += 4096) fresh.bytes[i] = 1;
  const ms = performance.now() - t0;
  const huge = anonHugeBytes() - huge0 >= bytes / 2;
  fresh.free();
  return { ms, huge };
}

/** The store's latest image of `job` as the runner restores it: found, every block read once and verified as it is decoded. */
export function loadLatest(codec: BlockCodec, store: LocalStore, job: string): RestoredImage | null {
  let loaded: RestoredImage | null = null;
  store.latest(job, codec, [], (reader) => (loaded = RestoredImage.load(reader)));
  return loaded;
}

/** A restart as the runner does it: the latest image loaded (loadLatest) into a new context. */
export function restartFromLatest(codec: BlockCodec, store: LocalStore, job: string, settings: ContextSettings = {}): JobContext {
  return newContext(codec, store, job, { ...settings, restored: loadLatest(codec, store, job) });
}

/**
 * `work` with `reference` measured next to it, under the same machine load: the reference before
 * the work in even repetitions `r`, after it in odd ones, so that what either leaves behind (a
 * file just freed, a cache just warmed) falls on both sides alike.
 */
export async function paired<W, R>(r: number, work: () => W | Promise<W>, reference: () => R | Promise<R>): Promise<[W, R]> {
  if (r % 2 === 0) {
    const ref = await reference();
    return [await work(), ref];
  }
  const done = await work();
  return [done, await reference()];
}

/**
 * `reps` times: a forced checkpoint of `ctx`, then a restart from the store's latest image
 * (find, verify, restore through `restore`), timed; `nextTo` measures limits next to each
 * (`paired`).
 */
export async function checkpointAndRestart(
  codec: BlockCodec,
  store: LocalStore,
  job: string,
  ctx: JobContext,
  reps: number,
  restore: (again: JobContext) => void,
  nextTo: () => void | Promise<void> = () => undefined,
): Promise<{ infos: ImageCommitted[]; restarts: number[] }> {
  const infos: ImageCommitted[] = [];
  const restarts: number[] = [];
  for (let r = 0; r < reps; r++) {
    await paired(r, async () => {
      infos.push(await take(ctx));
      const t0 = performance.now();
      // As the runner restores: every block read once, verified as it is decoded, before the job starts.
      const again = restartFromLatest(codec, store, job);
      restore(again);
      restarts.push(performance.now() - t0);
      await again.close();
    }, nextTo);
  }
  return { infos, restarts };
}
