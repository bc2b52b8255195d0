// The one rule for waiting after failures in a row, wherever cr tries again (a job's restarts,
// an agent's reconnects and calls, the scheduler's retries): the first wait, doubled after each
// failure, never more than a ceiling. Waits are in whatever unit the caller counts (ms, checkpoints).

/** The wait after `failures` failures in a row (0: the first wait): `first` doubled `failures` times, at most `max`. */
export function backoff(first: number, max: number, failures: number): number {
  // 2^1023 is the largest power of two a double holds: beyond it the product would be Infinity × 0 for a `first` of 0.
  return Math.min(max, first * 2 ** Math.min(failures, 1023));
}

/** Failures counted as they come: `next()` is the wait for this one, `reset()` after a success. */
export class Backoff {
  #failures = 0;

  constructor(
    readonly first: number,
    /** The ceiling; a caller may lower or raise it between waits (an agent learns its lease). */
    public max: number,
  ) {}

  next(): number {
    return backoff(this.first, this.max, this.#failures++);
  }

  reset(): void {
    this.#failures = 0;
  }
}
