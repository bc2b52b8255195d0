import { DirectStaging } from '../src/internal.js';

/**
 * Stagings for direct sinks shared by writers that run at once (the scheduler's uploads, a directory store's copies): at
 * most `size` exist, each allocated when first taken and kept for the next; when all are taken,
 * `take` gives null and the caller writes through the page cache instead.
 */
export class DirectStagingPool {
  readonly #free: DirectStaging[] = [];
  #made = 0;
  #closed = false;

  /** At most `size` stagings of `buffers` DIRECT_CHUNK buffers each. */
  constructor(readonly size: number, readonly buffers = 2) {}

  take(): DirectStaging | null {
    if (this.#closed) return null;
    const staging = this.#free.pop();
    if (staging !== undefined) return staging;
    if (this.#made >= this.size) return null;
    this.#made++;
    return new DirectStaging(this.buffers);
  }

  give(staging: DirectStaging): void {
    if (this.#closed) staging.free();
    else this.#free.push(staging);
  }

  /** Frees the stagings not taken now, and each one taken when it is given back; takes nothing more. */
  free(): void {
    this.#closed = true;
    for (const staging of this.#free.splice(0)) staging.free();
  }
}
