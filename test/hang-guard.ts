/**
 * How long a test waits for a process, an output line or a state before it calls it a hang.
 * It guards against hangs only, so it must never be what decides a test on a slow or loaded
 * machine: it sits far above any legitimate wait, since under heavy load a checkpoint of a few
 * KiB has been seen to take over ten seconds and a short CLI run several minutes. A real hang
 * still fails, with the output gathered so far. `CR_TEST_HANG_GUARD_S` changes it (seconds).
 */
export const HANG_GUARD_MS = guardFromEnv() ?? 10 * 60_000;

function guardFromEnv(): number | null {
  const given = process.env.CR_TEST_HANG_GUARD_S;
  if (given === undefined || given === '') return null;
  const seconds = Number(given);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new RangeError(`CR_TEST_HANG_GUARD_S must be a positive number of seconds, got "${given}"`);
  return seconds * 1000;
}
