// Time as a restarted job should see it. `cr.elapsed()` is the job's compute time along the
// path that led to this moment: the time captured in the image it was restored from, plus the
// time this attempt has run. Work an attempt did after its last image and then lost is not in
// it, because the result does not contain it either; time spent waiting for a restart is not.
// `cr.now()` is the wall clock, for log lines only: it is not captured and not repeatable.

/** The registered state "cr:clock". */
export interface ClockStateValue {
  /** Compute time up to the image's safe point, ms. */
  elapsedMs: number;
}

export const CLOCK_STATE_NAME = 'cr:clock';

export class JobClock {
  readonly value: ClockStateValue;
  readonly #baseMs: number;
  readonly #startedMs = performance.now();

  constructor(restored: unknown) {
    const saved = (restored as ClockStateValue | undefined)?.elapsedMs;
    this.#baseMs = typeof saved === 'number' && Number.isFinite(saved) && saved >= 0 ? saved : 0;
    this.value = { elapsedMs: this.#baseMs };
  }

  /** Milliseconds of compute time summed over the attempts that led here. */
  elapsed(): number {
    return this.#baseMs + (performance.now() - this.#startedMs);
  }

  /** At a safe point that takes an image. */
  capture(): void {
    this.value.elapsedMs = this.elapsed();
  }
}
