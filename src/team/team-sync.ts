// The words a team's leader and members share (one Int32Array over a SharedArrayBuffer), and the
// barrier every team safe point is. Both sides import this file; nothing here posts messages.
//
// A team safe point is collective: every member calls `checkpoint()` the same number of times.
// The last member to arrive decides, for everyone, whether this safe point takes an image (every
// N safe points, the leader's interval timer, or a runner request), publishes the decision and
// opens the barrier. So all members checkpoint at the same safe point, with no message round
// trip when nothing is due.

export const SYNC_ARRIVED = 0;
/** Barrier generation: incremented by the last arrival, which releases the others. */
export const SYNC_GENERATION = 1;
/** The decision of the last barrier: 1 = capture at this safe point. */
export const SYNC_DECISION = 2;
/** Set by the leader once it captured the image of a safe point: the generation it served. */
export const SYNC_CAPTURED = 3;
/** Set by the leader when the team goes down (a member died, a stop): members stop waiting. */
export const SYNC_ABORT = 4;
/** Set by the leader's timer when the checkpoint interval has passed. */
export const SYNC_TIME_DUE = 5;
/** How many members have returned from their function: one waiting at a barrier then waits forever. */
export const SYNC_FINISHED = 6;
/** Words from here on, one per member: the number of the last shared() request the leader answered. */
export const SYNC_WORDS = 8;

/** How long one Atomics.wait lasts before the abort word is checked again, ms. */
const WAIT_SLICE_MS = 50;

/** A member reached a safe point its peers will never reach: the team's safe points do not match. */
export class TeamMismatchError extends TypeError {
  constructor() {
    super('a team member returned while this one waits at a safe point: every member must call checkpoint() the same number of times');
  }
}

export class TeamAbortedError extends Error {
  constructor() {
    super('the team is going down (a member failed or the job is stopping)');
  }
}

/** Blocks while `sync[index]` is below `target`, checking the abort word in between. */
export function waitUntil(sync: Int32Array, index: number, target: number): void {
  for (let value = Atomics.load(sync, index); value < target; value = Atomics.load(sync, index)) {
    if (Atomics.load(sync, SYNC_ABORT) !== 0) throw new TeamAbortedError();
    Atomics.wait(sync, index, value, WAIT_SLICE_MS);
  }
}

/**
 * Arrives at the barrier of a team of `size`; the last arrival calls `decide()` and its answer is
 * everyone's. Returns the decision and the generation the barrier opened.
 */
export function arrive(sync: Int32Array, size: number, decide: () => boolean): { due: boolean; generation: number } {
  if (Atomics.load(sync, SYNC_ABORT) !== 0) throw new TeamAbortedError();
  const generation = Atomics.load(sync, SYNC_GENERATION);
  if (Atomics.add(sync, SYNC_ARRIVED, 1) + 1 === size) {
    Atomics.store(sync, SYNC_ARRIVED, 0);
    // The decision stays readable until every member has left: none can complete the next barrier before.
    Atomics.store(sync, SYNC_DECISION, decide() ? 1 : 0);
    Atomics.add(sync, SYNC_GENERATION, 1);
    Atomics.notify(sync, SYNC_GENERATION);
  } else {
    while (Atomics.load(sync, SYNC_GENERATION) === generation) {
      if (Atomics.load(sync, SYNC_ABORT) !== 0) throw new TeamAbortedError();
      // A peer that returned after passing this very barrier raised FINISHED after the barrier
      // opened (sequentially consistent atomics): so only a barrier still closed means a mismatch.
      if (Atomics.load(sync, SYNC_FINISHED) !== 0 && Atomics.load(sync, SYNC_GENERATION) === generation) throw new TeamMismatchError();
      Atomics.wait(sync, SYNC_GENERATION, generation, WAIT_SLICE_MS);
    }
  }
  return { due: Atomics.load(sync, SYNC_DECISION) === 1, generation: generation + 1 };
}
