// Staging: the blocks a checkpoint will write are copied out of the job's regions into reusable
// memory at the safe point, so the job can run on while they are encoded and written (FACTS.md:
// a warm copy runs at ~11 GB/s, while copying into fresh memory runs at 0.3–1.7 GB/s: the
// memory is allocated once and reused, never per checkpoint). The memory is a SharedArrayBuffer:
// the image writer thread (job/background-writer.ts) encodes and writes straight from it.
import { loadNative } from '../native/binding.js';

/** Where each block of a region section sits in staging memory. */
export interface StagedBlocks {
  memory: Uint8Array;
  /** Bytes of the section (staged or not). */
  length: number;
  /** Byte offset of block b in `memory`, or -1 when the block is not staged (it will not be read). */
  slots: Float64Array;
  /**
   * Copy-on-write: the blocks land in their slots in the background, and ready[0] becomes 1 once
   * they all have (-1: the copy was cancelled); null when they were copied at the safe point.
   */
  ready: Int32Array | null;
}

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

  constructor(budgetBytes: number, warm: WarmStaging | null = null) {
    if (!Number.isSafeInteger(budgetBytes) || budgetBytes < 0) throw new RangeError('the staging budget must be a whole number of bytes ≥ 0');
    this.budgetBytes = budgetBytes;
    this.#warm = warm;
  }

  /**
   * Copies the requested blocks of every request, in order, into staging memory (a deferred
   * request only gets its slots); null when they
   * would not fit the budget, or the memory they need is still being warmed (the caller then
   * writes from the regions while the job waits).
   */
  stage(requests: StagingRequest[], blockSize: number): StagedBlocks[] | null {
    let total = 0;
    for (const r of requests) total += stagedBytes(r, blockSize);
    if (total > this.budgetBytes) return null;
    if (!this.#memory || this.#memory.length < total) {
      // Grows to the largest checkpoint seen so far (with room for a state that grows a little),
      // then serves every later one.
      const size = Math.min(this.budgetBytes, Math.max(total + Math.ceil(total / 8) + 1024 * 1024, (this.#memory?.length ?? 0) * 2));
      this.#memory = new Uint8Array(new SharedArrayBuffer(size));
      // Huge pages, as for regions (region.ts): fewer faults to warm it, and on this virtual
      // machine a warm copy into 4 KiB pages ran at a sixth of the speed of one into huge pages.
      loadNative().binding?.adviseHugePages(this.#memory);
      this.#ready = new Int32Array(new SharedArrayBuffer(4));
      if (size > WARM_AT_ONCE_BYTES && this.#warm !== null) this.#warm(this.#memory, this.#ready);
      else this.#ready[0] = 1;
    }
    if (Atomics.load(this.#ready!, 0) !== 1) return null;
    const memory = this.#memory;
    let at = 0;
    return requests.map((r) => {
      const count = Math.ceil(r.data.length / blockSize);
      const slots = new Float64Array(count).fill(-1);
      for (let b = 0; b < count; b++) {
        if (r.blocks !== null && r.blocks[b] === 0) continue;
        const end = Math.min(r.data.length, (b + 1) * blockSize);
        if (r.deferred !== true) memory.set(r.data.subarray(b * blockSize, end), at);
        slots[b] = at;
        at += end - b * blockSize;
      }
      return { memory, length: r.data.length, slots, ready: null };
    });
  }
}

function stagedBytes(r: StagingRequest, blockSize: number): number {
  if (r.blocks === null) return r.data.length;
  let bytes = 0;
  for (let b = 0; b < r.blocks.length; b++) if (r.blocks[b]) bytes += Math.min(blockSize, r.data.length - b * blockSize);
  return bytes;
}
