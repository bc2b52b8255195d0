// Which blocks of a region changed since the last image. With the addon and a kernel that offers
// it, userfaultfd async write-protection + PAGEMAP_SCAN records written pages exactly (a scan
// costs well under a millisecond per GiB, the first write to each page after a scan ≈ 0.65 µs).
// Elsewhere, or with CR_DIRTY=hash, regions are not tracked and the writer compares each block's
// raw hash with the previous image's (docs/incremental.md).
import { loadNative, type NativeBinding } from '../native/binding.js';
import type { RegionMemory } from '../region.js';

export type DirtyMode = 'uffd' | 'hash';

/** A region with at least this share of its blocks written in two intervals in a row is not tracked... */
const ALL_DIRTY_FRACTION = 0.75;
/** ...for this many checkpoints; then tracking is tried again. */
const RETRY_TRACKING_AFTER = 8;
/** 'auto': track with userfaultfd where available; 'hash': always compare block hashes. */
export type DirtyPreference = 'auto' | 'hash';

let probed: { mode: DirtyMode; reason: string | null } | undefined;

/** How this process finds changed blocks, and why not by tracking when it cannot. */
export function dirtyTrackingMode(): { mode: DirtyMode; reason: string | null } {
  if (probed) return probed;
  const forced = process.env.CR_DIRTY;
  if (forced !== undefined && forced !== '' && forced !== 'uffd' && forced !== 'hash' && forced !== 'auto') {
    throw new RangeError(`CR_DIRTY must be "auto", "uffd" or "hash", got ${JSON.stringify(forced)}`);
  }
  const { binding, reason } = loadNative();
  if (forced === 'hash') probed = { mode: 'hash', reason: 'forced by CR_DIRTY=hash' };
  else if (!binding) probed = { mode: 'hash', reason };
  else {
    const support = binding.dirtyTrackingSupport();
    probed = support.available ? { mode: 'uffd', reason: null } : { mode: 'hash', reason: support.reason };
  }
  if (forced === 'uffd' && probed.mode !== 'uffd') {
    throw new Error(`CR_DIRTY=uffd, but dirty tracking is unavailable: ${probed.reason ?? 'unknown reason'}`);
  }
  return probed;
}

/**
 * Tracks one region. `pending` has a byte per block, set when the block may differ from the last
 * committed image; it accumulates across failed checkpoints and is cleared by `committed()`.
 */
export class RegionTracker {
  readonly pending: Uint8Array;
  readonly #binding: NativeBinding;
  readonly #buffer: ArrayBuffer;
  readonly #blockSize: number;
  #captured: Uint8Array | null = null;
  #tracking = true;
  #untrackedCaptures = 0;
  #allDirtyRuns = 0;

  private constructor(binding: NativeBinding, buffer: ArrayBuffer, blockSize: number) {
    this.#binding = binding;
    this.#buffer = buffer;
    this.#blockSize = blockSize;
    this.pending = new Uint8Array(Math.ceil(buffer.byteLength / blockSize));
  }

  /**
   * Starts tracking `memory` now (call it after restoring into it), or returns null when blocks
   * are to be compared by hash: `prefer` 'hash', or tracking unavailable here.
   */
  static start(memory: RegionMemory, blockSize: number, prefer: DirtyPreference = 'auto'): RegionTracker | null {
    const { binding } = loadNative();
    if (prefer === 'hash' || !memory.native || !binding || dirtyTrackingMode().mode !== 'uffd') return null;
    const buffer = memory.array.buffer as ArrayBuffer;
    binding.trackRegion(buffer);
    return new RegionTracker(binding, buffer, blockSize);
  }

  /** Whether writes are being tracked now (false while the region is treated as all dirty). */
  get tracking(): boolean {
    return this.#tracking;
  }

  /**
   * At the safe point: the blocks that may differ from the last committed image. Folds the pages
   * written since the last scan into `pending` and re-arms the protection — unless the region was
   * found (almost) all dirty: then tracking only costs the job a fault per page (≈ 0.65 µs each,
   * FACTS.md) and saves nothing, so it is switched off and every block counts as changed, until a
   * later checkpoint tries tracking again to see whether the job's pattern changed.
   */
  capture(): Uint8Array {
    if (this.#tracking) {
      this.#binding.scanDirty(this.#buffer, this.#blockSize, this.pending);
      let dirty = 0;
      for (let b = 0; b < this.pending.length; b++) dirty += this.pending[b]!;
      // Two intervals in a row, so that filling the region once at the start does not count.
      this.#allDirtyRuns = dirty >= this.pending.length * ALL_DIRTY_FRACTION ? this.#allDirtyRuns + 1 : 0;
      if (this.#allDirtyRuns >= 2) {
        this.#binding.untrackRegion(this.#buffer);
        this.#allDirtyRuns = 0;
        this.#tracking = false;
        this.#untrackedCaptures = 0;
      }
    } else {
      this.pending.fill(1);
      if (++this.#untrackedCaptures >= RETRY_TRACKING_AFTER) {
        // Protect again now: the next capture measures the interval that starts here.
        this.#binding.trackRegion(this.#buffer);
        this.#tracking = true;
      }
    }
    this.#captured = this.pending.slice();
    return this.#captured;
  }

  /** The image holding what `capture()` saw is committed: those blocks are clean again. */
  committed(): void {
    if (!this.#captured) return;
    // Blocks written after the capture were folded into pending by no scan yet: clearing the
    // captured ones is exact.
    for (let b = 0; b < this.pending.length; b++) if (this.#captured[b]) this.pending[b] = 0;
    this.#captured = null;
  }
}
