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
   * Copies the requested blocks of every request, in order, into staging memory (a deferred
   * request only gets its slots); null when they
   * would not fit the budget, or the memory they need is still being warmed (the caller then
   * writes from the regions while the job waits).
   */
  stage(requests: StagingRequest[], blockSize: number): StagedBlocks[] | null {
    let total = 0;
    for (const r of requests) total = alignSection(total) + stagedBytes(r, blockSize);
    if (total > this.budgetBytes) return null;
    const memory = this.#grow(total);
    if (Atomics.load(this.#ready!, 0) !== 1) return null;
    const native = loadNative().binding;
    let blocks = 0;
    for (const r of requests) blocks += Math.ceil(r.data.length / blockSize);
    if (blocks > this.#slots.length) this.#slots = new Float64Array(Math.max(blocks, this.#slots.length * 2));
    let at = 0;
    let slot = 0;
    return requests.map((r) => {
      at = alignSection(at);
      const count = Math.ceil(r.data.length / blockSize);
      const slots = this.#slots.subarray(slot, slot + count);
      slot += count;
      if (r.deferred === true) {
        at = layoutBlocks(r.data.length, blockSize, r.blocks, at, slots);
        return { memory, length: r.data.length, slots, ready: null };
      }
      // One native call per section: runs of consecutive blocks in one memcpy each, a large copy
      // on the addon's threads too (docs/incremental.md, "Staging"). A small section (most
      // states' v8 streams) is copied here: a call into the addon costs more than its bytes.
      const small = r.data.length <= SMALL_SECTION_BYTES;
      at = native && !small ? native.copyBlocks(r.data, blockSize, r.blocks, memory, at, slots) : copyBlocksPortable(r.data, blockSize, r.blocks, memory, at, slots);
      return { memory, length: r.data.length, slots, ready: null };
    });
  }
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
