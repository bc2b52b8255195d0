// Copy-on-write capture of regions (docs/incremental.md, "Copy-on-write checkpoints"): where
// the kernel allows it, a large region is write-protected at the safe point and copied into
// staging memory in the background, a block being saved by the fault handler first when the job
// writes it before the flush got there. This file holds whether it is available, which capture a
// region uses at each safe point, and why.
import { Backoff } from '../backoff.js';
import { loadNative, type NativeBinding } from '../native/binding.js';

/** 'auto': choose per region by measurement; 'cow': copy-on-write wherever possible; 'stage': never. */
export type CapturePreference = 'auto' | 'cow' | 'stage';

/** A region smaller than this is staged in 'auto': copying it at the safe point costs less than a few ms. */
export const COW_MIN_BYTES = 64 * 1024 * 1024;
/**
 * A region leaves copy-on-write when, during the last flush, the job wrote at least this share of
 * the blocks the flush had to save — whether the flush had saved them already or the job had to
 * wait for their copy. A job that sweeps its region while the flush copies it pays a fault per
 * run of blocks and shares the memory bus with the copy: the bench measured a sweep over 1 GiB
 * during a flush at 1.88× an unprotected one, against 1.44× right after a staged checkpoint whose
 * pause was 51 ms; for such a region staging costs less.
 */
export const COW_MAX_FAULT_SHARE = 0.25;
/** After leaving, this many captures are staged before copy-on-write is tried again, doubling up to the max. */
export const COW_RETRY_MIN = 4;
export const COW_RETRY_MAX = 64;

let probed: { available: boolean; forced: CapturePreference; reason: string | null } | undefined;

function preferenceFromEnv(): CapturePreference {
  const forced = process.env.CR_CAPTURE;
  if (forced === undefined || forced === '' || forced === 'auto') return 'auto';
  if (forced === 'cow' || forced === 'stage') return forced;
  throw new RangeError(`CR_CAPTURE must be "auto", "cow" or "stage", got ${JSON.stringify(forced)}`);
}

/**
 * Whether this process can take copy-on-write checkpoints, and why not when it cannot. With
 * CR_CAPTURE=cow, unavailability throws instead, for tests that must exercise the path.
 */
export function copyOnWriteMode(): { available: boolean; forced: CapturePreference; reason: string | null } {
  if (probed) return probed;
  const forced = preferenceFromEnv();
  const { binding, reason } = loadNative();
  if (forced === 'stage') probed = { available: false, forced, reason: 'switched off by CR_CAPTURE=stage' };
  else if (!binding) probed = { available: false, forced, reason };
  else {
    const support = binding.cowSupport();
    probed = { available: support.available, forced, reason: support.reason };
  }
  if (forced === 'cow' && !probed.available) {
    throw new Error(`CR_CAPTURE=cow, but copy-on-write is unavailable: ${probed.reason ?? 'unknown reason'}`);
  }
  return probed;
}

/** What one flush measured: the blocks it had to save, how many the job wrote while it ran, and how many of those before the flush saved them. */
export interface FlushMeasure {
  flushBlocks: number;
  flushWritten: number;
  faultCopies: number;
}

/** Decides, at each safe point, whether a region's capture uses copy-on-write. */
export interface CaptureChoice {
  /** `last`: what the flush since the previous call measured, or null when none ran. */
  next(last: FlushMeasure | null): boolean;
}

/**
 * The per-region choice between copy-on-write and staging, from what the region's last flush
 * measured. A large region starts in copy-on-write ('auto'); it leaves when the job wrote
 * COW_MAX_FAULT_SHARE or more of the blocks while its last flush ran, and is tried
 * again after COW_RETRY_MIN captures, then twice as many each time it leaves again (up to
 * COW_RETRY_MAX); a flush with few such writes resets the wait. 'cow' always chooses it, 'stage'
 * never.
 */
export class CowChoice implements CaptureChoice {
  readonly #prefer: CapturePreference;
  readonly #large: boolean;
  #wait = 0;
  readonly #retry = new Backoff(COW_RETRY_MIN, COW_RETRY_MAX);
  #cow = false;

  constructor(prefer: CapturePreference, byteLength: number) {
    this.#prefer = prefer;
    this.#large = byteLength >= COW_MIN_BYTES;
  }

  /** Whether the region is in copy-on-write mode (what the last `next()` chose). */
  get cow(): boolean {
    return this.#cow;
  }

  /** At a safe point: whether this capture uses copy-on-write. `last`: the flush since the previous call, if any. */
  next(last: FlushMeasure | null): boolean {
    if (this.#prefer !== 'auto') return (this.#cow = this.#prefer === 'cow');
    if (!this.#large) return (this.#cow = false);
    if (this.#cow && last !== null && last.flushBlocks > 0) {
      if (Math.max(last.flushWritten, last.faultCopies) >= last.flushBlocks * COW_MAX_FAULT_SHARE) {
        this.#wait = this.#retry.next();
        return (this.#cow = false);
      }
      this.#retry.reset();
    }
    if (!this.#cow && this.#wait > 0) {
      this.#wait--;
      return false;
    }
    return (this.#cow = true);
  }
}

/**
 * The copy-on-write state of one region: entered at a safe point whose capture chose it (every
 * block write-protected, the writes since the last capture folded into the caller's `pending`),
 * flushed into staging in the background, and left when the choice says staging costs less.
 */
export class CowRegion {
  readonly #binding: NativeBinding;
  readonly #buffer: ArrayBuffer;
  readonly #blockSize: number;
  readonly #choice: CaptureChoice;
  /** The region is registered for copy-on-write (synchronous write-protection). */
  #active = false;
  /** A flush ran since the last capture: its figures feed the choice. */
  #flushed = false;
  /** The last capture chose copy-on-write: the checkpoint calls flush() instead of copying the region. */
  #chosen = false;
  /** ready[0] of the flush in flight (see NativeBinding.cowFlush), reused. */
  readonly #ready = new Int32Array(new SharedArrayBuffer(4));

  constructor(binding: NativeBinding, buffer: ArrayBuffer, blockSize: number, choice: CaptureChoice) {
    this.#binding = binding;
    this.#buffer = buffer;
    this.#blockSize = blockSize;
    this.#choice = choice;
  }

  /** Whether the region is in copy-on-write mode (write-protected by the fault handler). */
  get active(): boolean {
    return this.#active;
  }

  /** Whether the last capture chose copy-on-write. */
  get chosen(): boolean {
    return this.#chosen;
  }

  /** At a safe point: whether this capture uses copy-on-write, from what the last flush measured. */
  choose(): boolean {
    this.#chosen = false;
    const stats = this.#active && this.#flushed ? this.#binding.cowStats(this.#buffer) : null;
    this.#flushed = false;
    return this.#choice.next(stats && !stats.flushing ? stats : null);
  }

  /**
   * A copy-on-write capture: registers and protects the region when it enters, and folds the
   * blocks written since the last capture into `pending` (exactly those the fault handler saw: one
   * fault per written block per interval).
   */
  capture(pending: Uint8Array): void {
    this.#binding.cowCapture(this.#buffer, this.#blockSize, pending);
    this.#active = true;
    this.#chosen = true;
  }

  /** Back to staging: the blocks written since the last capture are folded into `pending`, then the region is released. */
  leave(pending: Uint8Array): void {
    this.#binding.cowCapture(this.#buffer, this.#blockSize, pending);
    this.#binding.cowRelease(this.#buffer);
    this.#active = false;
  }

  /**
   * Right after a copy-on-write capture: saves the region's blocks with slots[b] ≥ 0 into
   * `memory` in the background. Returns the word that becomes 1 once they are all saved (-1 if
   * the flush was cancelled), for the image writer thread to wait on.
   */
  flush(memory: Uint8Array, slots: Float64Array): Int32Array {
    if (!this.#chosen) throw new Error('internal error: flush() after a capture that did not choose copy-on-write');
    this.#chosen = false;
    this.#binding.cowFlush(this.#buffer, memory, slots, this.#ready);
    this.#flushed = true;
    return this.#ready;
  }

  /** The copy-on-write figures of the region (null when it is not in copy-on-write mode). */
  stats(): ReturnType<NativeBinding['cowStats']> {
    return this.#active ? this.#binding.cowStats(this.#buffer) : null;
  }
}
