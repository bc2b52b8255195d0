// Which blocks of a region changed since the last image. With the addon and a kernel that offers
// it, userfaultfd async write-protection + PAGEMAP_SCAN records written pages exactly (a scan
// costs well under a millisecond per GiB, the first write to each page after a scan ≈ 0.65 µs).
// Elsewhere, or with CR_DIRTY=hash, regions are not tracked and the writer compares each block's
// raw hash with the previous image's (docs/incremental.md).
import { loadNative, type NativeBinding } from '../native/binding.js';
import type { RegionMemory } from '../region.js';

export type DirtyMode = 'uffd' | 'hash';
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

  /** At the safe point: folds the pages written since the last scan into `pending` and re-arms. */
  capture(): Uint8Array {
    this.#binding.scanDirty(this.#buffer, this.#blockSize, this.pending);
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
