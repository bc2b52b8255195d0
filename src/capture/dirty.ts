// Which blocks of a region changed since the last image. With the addon and a kernel that offers
// it, userfaultfd async write-protection + PAGEMAP_SCAN records written pages exactly (a scan
// costs well under a millisecond per GiB, the first write to each page after a scan ≈ 0.65 µs).
// Elsewhere, or with CR_DIRTY=hash, regions are not tracked and the writer compares each block's
// raw hash with the previous image's (docs/incremental.md).
import { loadNative, type NativeBinding } from '../native/binding.js';
import type { RegionMemory } from '../region.js';

export type DirtyMode = 'uffd' | 'hash';

/** An armed region with at least this share of its blocks written in one interval is disarmed... */
const ALL_DIRTY_FRACTION = 0.75;
/** ...and an unarmed one is armed when a hashed image found less than this share changed... */
const ARM_FRACTION = 0.25;
/** ...but not for this many checkpoints after a disarm, doubling each time it happens again. */
const REARM_BACKOFF_MIN = 4;
const REARM_BACKOFF_MAX = 64;
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
 * Tracks one region, when it pays (docs/incremental.md, "Choosing by measurement"). Armed, the
 * kernel records written pages and `capture()` says exactly which blocks changed; unarmed, the
 * region costs the job nothing between safe points and `capture()` returns null: the writer then
 * compares each block's hash with the previous image (on the writer thread), which also measures
 * how much of the region changes. A region starts unarmed (its first image is full anyway), is
 * armed at a safe point once a hashed image found little changed, and disarmed when an interval
 * wrote most of it: a page's first write after each scan costs a fault (0.65 µs in FACTS.md, and
 * up to ~15 µs on a loaded virtual machine), which a region rewritten whole gains nothing for.
 *
 * `pending` has a byte per block, set when the block may differ from the last committed image;
 * it accumulates across failed checkpoints and is cleared by `committed()`.
 */
export class RegionTracker {
  readonly pending: Uint8Array;
  readonly #binding: NativeBinding;
  readonly #buffer: ArrayBuffer;
  readonly #blockSize: number;
  /** What the last capture returned, until its image is committed; 'hashed' when it returned null. */
  #captured: Uint8Array | 'hashed' | null = null;
  #armed = false;
  /** A hashed capture was not committed: pending does not describe the changes since the last image. */
  #unknown = true;
  /** Share of blocks the last hashed image found changed; 1 until one was measured. */
  #changedShare = 1;
  #backoff = REARM_BACKOFF_MIN;
  /** Captures to wait before the region may be armed again. */
  #wait = 0;
  /** Captures since the region was last armed. */
  #armedCaptures = 0;

  private constructor(binding: NativeBinding, buffer: ArrayBuffer, blockSize: number) {
    this.#binding = binding;
    this.#buffer = buffer;
    this.#blockSize = blockSize;
    this.pending = new Uint8Array(Math.ceil(buffer.byteLength / blockSize));
  }

  /**
   * A tracker for `memory` (unarmed until a safe point finds it pays), or null when blocks are to
   * be compared by hash always: `prefer` 'hash', or tracking unavailable here.
   */
  static start(memory: RegionMemory, blockSize: number, prefer: DirtyPreference = 'auto'): RegionTracker | null {
    const { binding } = loadNative();
    if (prefer === 'hash' || !memory.native || !binding || dirtyTrackingMode().mode !== 'uffd') return null;
    return new RegionTracker(binding, memory.array.buffer as ArrayBuffer, blockSize);
  }

  /** Whether writes are being recorded now. */
  get tracking(): boolean {
    return this.#armed;
  }

  /**
   * At the safe point: the blocks that may differ from the last committed image, or null when
   * the writer must compare hashes to know. Armed, folds the pages written since the last scan
   * into `pending` and re-arms their protection, unless the interval wrote most of the region:
   * then the region is disarmed. Unarmed, arms it when the last hashed image found little changed.
   */
  capture(): Uint8Array | null {
    if (this.#armed) {
      this.#armedCaptures++;
      this.#binding.scanDirty(this.#buffer, this.#blockSize, this.pending);
      let dirty = 0;
      for (let b = 0; b < this.pending.length; b++) dirty += this.pending[b]!;
      if (dirty >= this.pending.length * ALL_DIRTY_FRACTION) {
        this.#binding.untrackRegion(this.#buffer);
        this.#armed = false;
        // Hashing found little changed, yet the very first armed interval wrote most pages: the
        // job rewrites the region with mostly equal values (a stencil over a field that is still
        // zero in most places). Tracking cannot pay for such a region: wait the longest.
        this.#wait = this.#armedCaptures === 1 ? REARM_BACKOFF_MAX : this.#backoff;
        this.#backoff = Math.min(REARM_BACKOFF_MAX, this.#backoff * 2);
      }
      if (!this.#unknown) {
        this.#captured = this.pending.slice();
        return this.#captured;
      }
    } else if (this.#wait > 0) {
      this.#wait--;
    } else if (this.#changedShare < ARM_FRACTION) {
      // Armed now, at the safe point: every write after it is recorded. This image is hashed.
      this.#binding.trackRegion(this.#buffer);
      this.#armed = true;
      this.#armedCaptures = 0;
      this.pending.fill(0);
    }
    this.#unknown = true;
    this.#captured = 'hashed';
    return null;
  }

  /**
   * The image holding what `capture()` saw is committed. `changedShare`: the share of the
   * region's blocks that image wrote rather than shared, or null when it had nothing to share
   * them with (a full image).
   */
  committed(changedShare: number | null = null): void {
    const captured = this.#captured;
    this.#captured = null;
    if (captured === null) return;
    if (captured === 'hashed') {
      // The image is exact, and pages written since the capture are in the kernel's bits (when
      // armed) for the next scan.
      this.#unknown = false;
      this.pending.fill(0);
      if (changedShare !== null) this.#changedShare = changedShare;
      return;
    }
    // Blocks written after the capture were folded into pending by no scan yet: clearing the
    // captured ones is exact.
    for (let b = 0; b < this.pending.length; b++) if (captured[b]) this.pending[b] = 0;
    if (changedShare !== null && changedShare < ARM_FRACTION) this.#backoff = REARM_BACKOFF_MIN;
  }
}
