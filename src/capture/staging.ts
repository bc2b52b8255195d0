// Staging: the blocks a checkpoint will write are copied out of the job's regions into reusable
// memory at the safe point, so the job can run on while they are encoded and written. A copy into
// warm memory runs several times faster than one into fresh memory (whose first touch faults
// every page in), so the memory is allocated once and reused, never per checkpoint. The memory is a SharedArrayBuffer:
// the image writer thread (pipeline/background-writer.ts) encodes and writes straight from it.
import type { StagedBlocks } from '../image/sections.js';
import { loadNative } from '../native/binding.js';

export interface StagingRequest {
  data: Uint8Array;
  /** One byte per block, 1 = stage it; null = stage every block. */
  blocks: Uint8Array | null;
  /** Reserve the slots but copy nothing: copy-on-write fills them (capture/cow.ts). */
  deferred?: boolean;
}

// A 1 GiB job with its state fits, so that its images never make it wait.
/**
 * Staging memory up to this size is used at once; larger memory is first faulted in by the image
 * writer thread while the job goes on. On this kind of virtual machine a fresh page costs
 * ~15 µs on first touch (the host backs it then), so copying 1 GiB into fresh memory at a safe
 * point would pause the job for seconds; until the memory is warm, images are written from the
 * job's memory while it waits, as beyond the budget.
 */
export const WARM_AT_ONCE_BYTES = 64 * 1024 * 1024;

/** Faults in fresh staging memory off the job's thread, then sets ready[0] to 1. */
export type WarmStaging = (memory: Uint8Array, ready: Int32Array) => void;

export const DEFAULT_STAGING_BUDGET_BYTES = 1.5 * 1024 * 1024 * 1024;

export class Staging {
  readonly budgetBytes: number;
  readonly #warm: WarmStaging | null;
  #memory: Uint8Array | null = null;
  /** ready[0] is 1 once #memory may be used. */
  #ready: Int32Array | null = null;
  /** When the warming of #memory began (performance.now() ms). */
  #warmStarted = 0;
  /**
   * The block offsets of every staged section, reused: a new ArrayBuffer per section at the safe
   * point would be V8's cue to collect for the external memory a state's v8 stream has just
   * taken (a scavenge of 50–70 ms in the pause at 10⁶ objects).
   */
  #slots = new Float64Array(1024);
  /** The count of blocks in place of the staging copy in flight (StagedBlocks.copied), reused. */
  #copied: Int32Array | null = null;

  constructor(budgetBytes: number, warm: WarmStaging | null = null) {
    if (!Number.isSafeInteger(budgetBytes) || budgetBytes < 0) throw new RangeError('the staging budget must be a whole number of bytes ≥ 0');
    this.budgetBytes = budgetBytes;
    this.#warm = warm;
  }

  /**
   * Makes sure there is memory for about `bytes` of staged sections, warming it off the job's
   * thread when it is new, so that the first checkpoint that needs it finds it warm instead of
   * writing its image while the job waits (a first image of 1 GiB paused heat2d for 0.6 s).
   * Nothing happens when `bytes` would not fit the budget: those images are written unstaged.
   */
  reserve(bytes: number): void {
    if (bytes <= this.budgetBytes) this.#grow(bytes);
  }

  /** Whether the memory is still being warmed, and began less than `withinMs` ago. */
  warming(withinMs: number): boolean {
    return this.#ready !== null && Atomics.load(this.#ready, 0) !== 1 && performance.now() - this.#warmStarted < withinMs;
  }

  #grow(total: number): Uint8Array {
    if (this.#memory && this.#memory.length >= total) return this.#memory;
    // Grows to the largest checkpoint seen so far (with room for a state that grows a little),
    // then serves every later one.
    const size = Math.min(this.budgetBytes, Math.max(total + Math.ceil(total / 8) + 1024 * 1024, (this.#memory?.length ?? 0) * 2));
    this.#memory = new Uint8Array(new SharedArrayBuffer(size));
    // Huge pages, as for regions (region.ts): fewer faults to warm it, and on this virtual
    // machine a warm copy into 4 KiB pages ran at a sixth of the speed of one into huge pages.
    loadNative().binding?.adviseHugePages(this.#memory);
    this.#ready = new Int32Array(new SharedArrayBuffer(4));
    this.#warmStarted = performance.now();
    if (size > WARM_AT_ONCE_BYTES && this.#warm !== null) this.#warm(this.#memory, this.#ready);
    else this.#ready[0] = 1;
    return this.#memory;
  }

  /**
   * Lays out the requested blocks of every request, in order, in staging memory; `copy()` then
   * copies them in (a deferred request only gets its slots). The layout comes first so that the
   * image writer thread can be handed the sections and start on the first blocks while the job's
   * thread still copies the last ones. Null when they would not fit the budget, or the memory they
   * need is still being warmed (the caller then writes from the regions while the job waits).
   */
  stage(requests: StagingRequest[], blockSize: number): StagingCopy | null {
    let total = 0;
    for (const r of requests) total = alignSection(total) + stagedBytes(r, blockSize);
    if (total > this.budgetBytes) return null;
    const memory = this.#grow(total);
    if (Atomics.load(this.#ready!, 0) !== 1) return null;
    let blocks = 0;
    for (const r of requests) blocks += Math.ceil(r.data.length / blockSize);
    if (blocks > this.#slots.length) this.#slots = new Float64Array(Math.max(blocks, this.#slots.length * 2));
    // Reused: at most one checkpoint is in flight, and the writer has read its last block before
    // the next one is staged.
    const count = (this.#copied ??= new Int32Array(new SharedArrayBuffer(4)));
    Atomics.store(count, 0, 0);
    let at = 0;
    let slot = 0;
    const sections = requests.map((r): StagedBlocks => {
      at = alignSection(at);
      const n = Math.ceil(r.data.length / blockSize);
      const slots = this.#slots.subarray(slot, slot + n);
      const copied = r.deferred === true ? null : { count, first: slot };
      slot += n;
      at = layoutBlocks(r.data.length, blockSize, r.blocks, at, slots);
      return { memory, length: r.data.length, slots, ready: null, copied };
    });
    return new StagingCopy(requests, sections, blockSize, count);
  }
}

/**
 * Bytes the job's thread copies between two notes to the image writer thread of how far it got.
 * Large enough that a piece's call costs nothing next to it (16 MiB pieces made 1 GiB 10% slower
 * to copy), small enough that the writer starts within milliseconds of the copy.
 */
export const COPY_PIECE_BYTES = 64 * 1024 * 1024;

/** One checkpoint's staging, laid out: `copy()` fills it. */
export class StagingCopy {
  readonly #requests: StagingRequest[];
  readonly #blockSize: number;
  readonly #count: Int32Array;
  /** Where each request's blocks go; handed to the image writer thread before copy() runs. */
  readonly sections: StagedBlocks[];

  constructor(requests: StagingRequest[], sections: StagedBlocks[], blockSize: number, count: Int32Array) {
    this.#requests = requests;
    this.sections = sections;
    this.#blockSize = blockSize;
    this.#count = count;
  }

  /**
   * Copies every request's blocks into their slots, in order, a piece at a time, and after each
   * piece counts the blocks in place and wakes the image writer thread (sections.ts, inPlace).
   * A failure marks the copy failed, so that the writer thread stops waiting, and is rethrown.
   */
  copy(): void {
    const native = loadNative().binding;
    const blockSize = this.#blockSize;
    const piece = Math.max(1, Math.floor(COPY_PIECE_BYTES / blockSize));
    let done = 0;
    try {
      this.#requests.forEach((r, i) => {
        const { memory, slots } = this.sections[i]!;
        const n = slots.length;
        // A deferred request's blocks are copied by copy-on-write, which has its own ready word.
        if (r.deferred !== true) {
          // A small section (most states' v8 streams) is copied whole by a set here, a call into
          // the addon costing more than its bytes, and counted with the next piece or at the end.
          // The copies rewrite the laid-out slots with the same values.
          const small = r.data.length <= SMALL_SECTION_BYTES;
          const step = small ? n : piece;
          for (let b = 0; b < n; b += step) {
            const end = Math.min(n, b + step);
            const at = firstSlot(slots, b, end);
            if (at >= 0) {
              const src = r.data.subarray(b * blockSize, Math.min(r.data.length, end * blockSize));
              const mask = r.blocks === null ? null : r.blocks.subarray(b, end);
              if (native && !small) native.copyBlocks(src, blockSize, mask, memory, at, slots.subarray(b, end));
              else copyBlocksPortable(src, blockSize, mask, memory, at, slots.subarray(b, end));
            }
            if (!small) publish(this.#count, done + end);
          }
        }
        done += n;
      });
      publish(this.#count, done);
    } catch (err) {
      publish(this.#count, -1);
      throw err;
    }
  }
}

function publish(count: Int32Array, value: number): void {
  Atomics.store(count, 0, value);
  Atomics.notify(count, 0);
}

/** The slot of the first staged block of [begin, end), -1 when none is. */
function firstSlot(slots: Float64Array, begin: number, end: number): number {
  for (let b = begin; b < end; b++) if (slots[b]! >= 0) return slots[b]!;
  return -1;
}

/**
 * Every section starts on a 64-byte boundary of staging memory. Without it, a region staged after
 * a state of odd length sits at an odd offset, and V8 copies into a SharedArrayBuffer with relaxed
 * atomic stores a word at a time only when source and target are equally aligned, byte by byte
 * otherwise: 1 GiB then took 340-550 ms to stage instead of 60-75 ms (the pause was 5× a memcpy).
 */
export const SECTION_ALIGNMENT = 64;

/** Sections up to this size are staged by a `set` on the job's thread instead of a call into the addon. */
const SMALL_SECTION_BYTES = 4096;

function alignSection(at: number): number {
  return Math.ceil(at / SECTION_ALIGNMENT) * SECTION_ALIGNMENT;
}

/** The addon's copyBlocks (native/binding.ts) in JS, for when it is not loaded: each run of staged blocks in one `set`. */
export function copyBlocksPortable(src: Uint8Array, blockSize: number, blocks: Uint8Array | null, dst: Uint8Array, at: number, slots: Float64Array): number {
  let b = 0;
  while (b < slots.length) {
    if (blocks !== null && blocks[b] === 0) {
      slots[b++] = -1;
      continue;
    }
    const first = b;
    for (; b < slots.length && (blocks === null || blocks[b] !== 0); b++) slots[b] = at + (b - first) * blockSize;
    const begin = first * blockSize;
    const end = Math.min(src.length, b * blockSize);
    dst.set(src.subarray(begin, end), at);
    at += end - begin;
  }
  return at;
}

/** Where copyBlocks would put each block, copying nothing (copy-on-write fills the slots later). */
function layoutBlocks(length: number, blockSize: number, blocks: Uint8Array | null, at: number, slots: Float64Array): number {
  for (let b = 0; b < slots.length; b++) {
    if (blocks !== null && blocks[b] === 0) {
      slots[b] = -1;
      continue;
    }
    slots[b] = at;
    at += Math.min(blockSize, length - b * blockSize);
  }
  return at;
}

function stagedBytes(r: StagingRequest, blockSize: number): number {
  if (r.blocks === null) return r.data.length;
  let bytes = 0;
  for (let b = 0; b < r.blocks.length; b++) if (r.blocks[b]) bytes += Math.min(blockSize, r.data.length - b * blockSize);
  return bytes;
}
