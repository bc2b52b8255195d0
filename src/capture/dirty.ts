// Which blocks of a region changed since the last image. With the addon and a kernel that offers
// it, userfaultfd async write-protection + PAGEMAP_SCAN records written pages exactly (a scan
// costs well under a millisecond per GiB, the first write to each page after a scan ≈ 0.65 µs).
// Elsewhere, or with CR_DIRTY=hash, regions are not tracked and the writer compares each block's
// raw hash with the previous image's (docs/incremental.md).
import { backoff } from '../backoff.js';
import { loadNative, type NativeBinding } from '../native/binding.js';

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
 * Dirty tracking of one region, when it pays (docs/incremental.md, "Choosing by measurement").
 * Armed, the kernel records written pages and `capture()` says exactly which blocks changed;
 * unarmed, the region costs the job nothing between safe points and `capture()` returns null: the
 * writer then compares each block's hash with the previous image (on the writer thread), which
 * also measures how much of the region changes. A region starts unarmed (its first image is full
 * anyway), is armed at a safe point once a hashed image found little changed, and disarmed when an
 * interval wrote most of it: a page's first write after each scan costs a fault (under a
 * microsecond on bare metal, up to ~15 µs on a loaded virtual machine), which a region rewritten
 * whole gains nothing for. While copy-on-write holds the region (cow.ts, CowRegion), it records the
 * writes into `pending` instead (handOver, takeBack).
 *
 * `pending` has a byte per block, set when the block may differ from the last committed image (1
 * written, 2 maybe written: a copy-on-write region let a sequential writer into it ahead, and the
 * writer compares its hash); it accumulates across failed checkpoints and is cleared by
 * `committed()`.
 */
export class DirtyTracker {
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
  /** Times in a row an armed region was disarmed for being written widely: sets the wait before it is armed again. */
  #disarms = 0;
  /** Captures to wait before the region may be armed again. */
  #wait = 0;
  /** Captures since the region was last armed. */
  #armedCaptures = 0;
  /** Asynchronous tracking may be used (available, and blocks are not to be compared by hash). */
  readonly #asyncTracking: boolean;
  /** Blocks are compared by hash always (the 'hash' preference): captures return null. */
  readonly #hashOnly: boolean;

  constructor(binding: NativeBinding, buffer: ArrayBuffer, blockSize: number, asyncTracking: boolean, hashOnly: boolean) {
    this.#binding = binding;
    this.#buffer = buffer;
    this.#blockSize = blockSize;
    this.#asyncTracking = asyncTracking;
    this.#hashOnly = hashOnly;
    this.pending = new Uint8Array(Math.ceil(buffer.byteLength / blockSize));
  }

  /** Whether the kernel records writes to the region now. */
  get armed(): boolean {
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
      for (let b = 0; b < this.pending.length; b++) if (this.pending[b] !== 0) dirty++;
      if (dirty >= this.pending.length * ALL_DIRTY_FRACTION) {
        this.#binding.untrackRegion(this.#buffer);
        this.#armed = false;
        // Hashing found little changed, yet the very first armed interval wrote most pages: the
        // job rewrites the region with mostly equal values (a stencil over a field that is still
        // zero in most places). Tracking cannot pay for such a region: wait the longest.
        this.#wait = this.#armedCaptures === 1 ? REARM_BACKOFF_MAX : this.#rearmWait();
        this.#disarms++;
      }
      if (!this.#unknown) {
        this.#captured = this.pending.slice();
        return this.#captured;
      }
    } else if (this.#wait > 0) {
      this.#wait--;
    } else if (this.#asyncTracking && this.#changedShare < ARM_FRACTION) {
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
   * Copy-on-write takes the region over (the two cannot share a mapping): an armed region is
   * scanned first, so the blocks written before stay known; an unarmed one recorded nothing, so
   * the next image is hashed.
   */
  handOver(): void {
    if (this.#armed) {
      this.#binding.scanDirty(this.#buffer, this.#blockSize, this.pending);
      this.#binding.untrackRegion(this.#buffer);
      this.#armed = false;
    } else {
      this.#unknown = true;
    }
  }

  /**
   * Copy-on-write gave the region back, its last writes folded into pending. Not to asynchronous
   * tracking: a region that outran the flush is one the job writes widely, and arming it made
   * heat2d at 1 GiB run 4× slower for the rest of its run (a write-protect fault per page). Its
   * next images are hashed; the usual rules (hashing's changed share, the back-off) decide whether
   * it is armed later. Nothing records writes from here on: pending is exact for this capture only.
   */
  takeBack(): void {
    this.#wait = this.#rearmWait();
  }

  /** Captures to wait before arming again: the back-off after the disarms so far. */
  #rearmWait(): number {
    return backoff(REARM_BACKOFF_MIN, REARM_BACKOFF_MAX, this.#disarms);
  }

  /** After copy-on-write recorded the writes into pending: the changed blocks when pending describes them, else null (hashed). */
  result(): Uint8Array | null {
    if (!this.#unknown && !this.#hashOnly) {
      this.#captured = this.pending.slice();
      return this.#captured;
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
    if (changedShare !== null && changedShare < ARM_FRACTION) this.#disarms = 0;
  }
}
