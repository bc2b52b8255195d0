// Which blocks of a region changed since the last image. With the addon and a kernel that offers
// it, userfaultfd async write-protection + PAGEMAP_SCAN records written pages exactly (a scan
// costs well under a millisecond per GiB, the first write to each page after a scan ≈ 0.65 µs).
// Elsewhere, or with CR_DIRTY=hash, regions are not tracked and the writer compares each block's
// raw hash with the previous image's (docs/incremental.md).
import { loadNative, type NativeBinding } from '../native/binding.js';
import type { RegionMemory } from '../region.js';
import { copyOnWriteMode, CowChoice, type CapturePreference, type CaptureChoice, type FlushMeasure } from './cow.js';

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
 * wrote most of it: a page's first write after each scan costs a fault (under a microsecond on
 * bare metal, up to ~15 µs on a loaded virtual machine), which a region rewritten whole gains nothing for.
 *
 * `pending` has a byte per block, set when the block may differ from the last committed image (1
 * written, 2 maybe written: a copy-on-write region let a sequential writer into it ahead, and the
 * writer compares its hash); it accumulates across failed checkpoints and is cleared by
 * `committed()`.
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
  /** Asynchronous tracking may be used (available, and blocks are not to be compared by hash). */
  readonly #asyncTracking: boolean;
  /** Blocks are compared by hash always (the 'hash' preference): captures return null. */
  readonly #hashOnly: boolean;
  /** Copy-on-write: the choice, or null when it is never used for this region. */
  readonly #cow: CaptureChoice | null;
  /** The region is registered for copy-on-write (synchronous write-protection). */
  #cowMode = false;
  /** A flush ran since the last capture: its figures feed the choice. */
  #flushed = false;
  /** The last capture chose copy-on-write: the checkpoint calls flush() instead of copying the region. */
  #cowCapture = false;
  /** ready[0] of the flush in flight (see NativeBinding.cowFlush), reused. */
  readonly #ready = new Int32Array(new SharedArrayBuffer(4));

  private constructor(binding: NativeBinding, buffer: ArrayBuffer, blockSize: number, asyncTracking: boolean, hashOnly: boolean, cow: CaptureChoice | null) {
    this.#binding = binding;
    this.#buffer = buffer;
    this.#blockSize = blockSize;
    this.#asyncTracking = asyncTracking;
    this.#hashOnly = hashOnly;
    this.#cow = cow;
    this.pending = new Uint8Array(Math.ceil(buffer.byteLength / blockSize));
  }

  /**
   * A tracker for `memory` (unarmed until a safe point finds it pays), or null when blocks are to
   * be compared by hash always and copy-on-write is not used: (`prefer` 'hash' or tracking
   * unavailable here) and (`capture` 'stage' or copy-on-write unavailable). `capture` may also be
   * a choice of one's own (tests script the transitions with one).
   */
  static start(memory: RegionMemory, blockSize: number, prefer: DirtyPreference = 'auto', capture: CapturePreference | CaptureChoice = 'auto'): RegionTracker | null {
    const { binding } = loadNative();
    if (!memory.native || !binding) return null;
    const asyncTracking = prefer !== 'hash' && dirtyTrackingMode().mode === 'uffd';
    const cowMode = copyOnWriteMode();
    const chosen = typeof capture === 'object' || capture !== 'auto' ? capture : cowMode.forced;
    if (chosen !== 'stage' && chosen !== 'auto' && !cowMode.available) {
      throw new Error(`copy-on-write was asked for, but it is unavailable: ${cowMode.reason ?? 'unknown reason'}`);
    }
    const cow = !cowMode.available || chosen === 'stage' ? null : typeof chosen === 'object' ? chosen : new CowChoice(chosen, memory.bytes.length);
    if (!asyncTracking && cow === null) return null;
    return new RegionTracker(binding, memory.array.buffer as ArrayBuffer, blockSize, asyncTracking, prefer === 'hash', cow);
  }

  /** Whether writes are being recorded now (asynchronous tracking, or copy-on-write mode). */
  get tracking(): boolean {
    return this.#armed || this.#cowMode;
  }

  /** Whether the last capture chose copy-on-write: the checkpoint then calls `flush()` for the region instead of copying it. */
  get copyOnWrite(): boolean {
    return this.#cowCapture;
  }

  /**
   * Right after a copy-on-write capture: saves the region's blocks with slots[b] ≥ 0 into
   * `memory` in the background. Returns the word that becomes 1 once they are all saved (-1 if
   * the flush was cancelled), for the image writer thread to wait on.
   */
  flush(memory: Uint8Array, slots: Float64Array): Int32Array {
    if (!this.#cowCapture) throw new Error('internal error: flush() after a capture that did not choose copy-on-write');
    this.#cowCapture = false;
    this.#binding.cowFlush(this.#buffer, memory, slots, this.#ready);
    this.#flushed = true;
    return this.#ready;
  }

  /** The copy-on-write figures of the region (null when it is not in copy-on-write mode). */
  cowStats(): ReturnType<NativeBinding['cowStats']> {
    return this.#cowMode ? this.#binding.cowStats(this.#buffer) : null;
  }

  /**
   * At the safe point: the blocks that may differ from the last committed image, or null when
   * the writer must compare hashes to know. Armed, folds the pages written since the last scan
   * into `pending` and re-arms their protection, unless the interval wrote most of the region:
   * then the region is disarmed. Unarmed, arms it when the last hashed image found little changed.
   */
  capture(): Uint8Array | null {
    this.#cowCapture = false;
    if (this.#cow !== null) {
      const stats = this.#cowMode && this.#flushed ? this.#binding.cowStats(this.#buffer) : null;
      this.#flushed = false;
      const last: FlushMeasure | null = stats && !stats.flushing ? stats : null;
      if (this.#cow.next(last)) return this.#captureCow();
      if (this.#cowMode) return this.#leaveCow();
    }
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
        this.#wait = this.#armedCaptures === 1 ? REARM_BACKOFF_MAX : this.#backoff;
        this.#backoff = Math.min(REARM_BACKOFF_MAX, this.#backoff * 2);
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
   * A copy-on-write capture. Entering the mode from asynchronous tracking scans first (the two
   * modes cannot share a mapping), so the blocks written before stay known; from no tracking, this
   * image is hashed. In the mode, the blocks written since the last capture are exactly those the
   * fault handler saw (one fault per written block per interval).
   */
  #captureCow(): Uint8Array | null {
    if (!this.#cowMode) {
      if (this.#armed) {
        this.#binding.scanDirty(this.#buffer, this.#blockSize, this.pending);
        this.#binding.untrackRegion(this.#buffer);
        this.#armed = false;
      } else {
        this.#unknown = true; // nothing recorded the writes since the last image
      }
      this.#binding.cowCapture(this.#buffer, this.#blockSize, this.pending); // registers, protects every block
      this.#cowMode = true;
    } else {
      this.#binding.cowCapture(this.#buffer, this.#blockSize, this.pending);
    }
    this.#cowCapture = true;
    return this.#result();
  }

  /**
   * Back to staging: the blocks written since the last capture are folded into pending, then the
   * region leaves copy-on-write at this safe point and goes straight to asynchronous tracking
   * (when it may), so that no write goes unseen; otherwise the next images are hashed.
   */
  #leaveCow(): Uint8Array | null {
    this.#binding.cowCapture(this.#buffer, this.#blockSize, this.pending);
    this.#binding.cowRelease(this.#buffer);
    this.#cowMode = false;
    const result = this.#result();
    // Not to asynchronous tracking: a region that outran the flush is one the job writes widely,
    // and arming it made heat2d at 1 GiB run 4× slower for the rest of its run (a write-protect
    // fault per page). Its next images are hashed; the usual rules (hashing's changed share, the
    // back-off) decide whether it is armed later. Nothing records writes from here on: pending is
    // exact for this capture only.
    this.#wait = this.#backoff;
    return result;
  }

  /** The changed blocks when pending describes them, else null (hashed), and what committed() will clear. */
  #result(): Uint8Array | null {
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
    if (changedShare !== null && changedShare < ARM_FRACTION) this.#backoff = REARM_BACKOFF_MIN;
  }
}
