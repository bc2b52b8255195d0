// The checkpoint policy (src/policy.ts): when a safe point is due, and the one-time notice ahead
// of the first checkpoint (prepareBefore) that lets staging memory be warmed in advance.
import test from 'ava';
import { CheckpointPolicy, resolvePolicyOptions } from '../src/policy.js';

/** Calls isDue() until it says due or `ms` passed; returns whether it did. */
function safePointsFor(policy: CheckpointPolicy, ms: number, each?: () => void): boolean {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (policy.isDue()) return true;
    each?.();
  }
  return false;
}

test('prepareBefore is called once, at a safe point within its lead of the first checkpoint, before that checkpoint is due', (t) => {
  // Notice at 500 ms, due at 2 s: margins wide enough for a loaded machine's pauses.
  const policy = new CheckpointPolicy(resolvePolicyOptions({ intervalMs: 2_000 }), null);
  let prepared = 0;
  policy.prepareBefore(1_500, () => prepared++);
  t.false(safePointsFor(policy, 50), 'not due yet');
  t.is(prepared, 0, 'far from due: not yet');
  let dueWhenPrepared = null as boolean | null;
  t.true(safePointsFor(policy, 60_000, () => {
    if (prepared === 1 && dueWhenPrepared === null) dueWhenPrepared = false;
  }));
  t.is(prepared, 1);
  t.is(dueWhenPrepared, false, 'called at a safe point before the one that was due');
  policy.rearm(1);
  safePointsFor(policy, 500);
  t.is(prepared, 1, 'once only');
});

test('prepareBefore is never called for a job that ends before its lead, and at the first safe point when checkpoints come by count', (t) => {
  const byTime = new CheckpointPolicy(resolvePolicyOptions({ intervalMs: 60_000 }), null);
  let prepared = 0;
  byTime.prepareBefore(30_000, () => prepared++);
  t.false(safePointsFor(byTime, 100));
  t.is(prepared, 0);

  const byCount = new CheckpointPolicy(resolvePolicyOptions({ intervalMs: null, everyCalls: 1_000_000 }), null);
  let counted = 0;
  byCount.prepareBefore(30_000, () => counted++);
  t.false(safePointsFor(byCount, 20));
  t.is(counted, 1);
});

test('a checkpoint taken before the notice (a runner request) calls prepareBefore at once, for the next one', (t) => {
  const policy = new CheckpointPolicy(resolvePolicyOptions({ intervalMs: 60_000 }), null);
  let prepared = 0;
  policy.prepareBefore(1_000, () => prepared++);
  policy.rearm(5);
  t.is(prepared, 1);
  policy.rearm(5);
  t.is(prepared, 1);
});
