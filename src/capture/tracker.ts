// What a region's capture knows of it between images: which blocks changed (dirty.ts) and, for a
// large region, whether it is captured by copy-on-write (cow.ts). One tracker per region that has
// either; regions with neither are staged whole and compared by hash.
import { loadNative, type NativeBinding } from '../native/binding.js';
import type { RegionMemory } from '../region.js';
import { copyOnWriteMode, CowChoice, CowRegion, type CapturePreference, type CaptureChoice } from './cow.js';
import { DirtyTracker, dirtyTrackingMode, type DirtyPreference } from './dirty.js';

export class RegionTracker {
  readonly #dirty: DirtyTracker;
  /** Copy-on-write, or null when it is never used for this region. */
  readonly #cow: CowRegion | null;

  private constructor(dirty: DirtyTracker, cow: CowRegion | null) {
    this.#dirty = dirty;
    this.#cow = cow;
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
    const choice = !cowMode.available || chosen === 'stage' ? null : typeof chosen === 'object' ? chosen : new CowChoice(chosen, memory.bytes.length);
    if (!asyncTracking && choice === null) return null;
    const buffer = memory.array.buffer as ArrayBuffer;
    const dirty = new DirtyTracker(binding, buffer, blockSize, asyncTracking, prefer === 'hash');
    return new RegionTracker(dirty, choice === null ? null : new CowRegion(binding, buffer, blockSize, choice));
  }

  /** One byte per block: may differ from the last committed image (see DirtyTracker). */
  get pending(): Uint8Array {
    return this.#dirty.pending;
  }

  /** Whether writes are being recorded now (asynchronous tracking, or copy-on-write mode). */
  get tracking(): boolean {
    return this.#dirty.armed || this.#cow?.active === true;
  }

  /** Whether the last capture chose copy-on-write: the checkpoint then calls `flush()` for the region instead of copying it. */
  get copyOnWrite(): boolean {
    return this.#cow?.chosen === true;
  }

  /** See CowRegion.flush. */
  flush(memory: Uint8Array, slots: Float64Array): Int32Array {
    if (this.#cow === null) throw new Error('internal error: flush() after a capture that did not choose copy-on-write');
    return this.#cow.flush(memory, slots);
  }

  /** The copy-on-write figures of the region (null when it is not in copy-on-write mode). */
  cowStats(): ReturnType<NativeBinding['cowStats']> {
    return this.#cow?.stats() ?? null;
  }

  /**
   * At the safe point: the blocks that may differ from the last committed image, or null when
   * the writer must compare hashes to know (dirty.ts); copy-on-write first, when its choice says so.
   */
  capture(): Uint8Array | null {
    const cow = this.#cow;
    if (cow !== null) {
      if (cow.choose()) {
        if (!cow.active) this.#dirty.handOver();
        cow.capture(this.#dirty.pending);
        return this.#dirty.result();
      }
      if (cow.active) {
        cow.leave(this.#dirty.pending);
        const result = this.#dirty.result();
        this.#dirty.takeBack();
        return result;
      }
    }
    return this.#dirty.capture();
  }

  /** See DirtyTracker.committed. */
  committed(changedShare: number | null = null): void {
    this.#dirty.committed(changedShare);
  }
}
