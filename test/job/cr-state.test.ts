// The package's `cr` forwards the state API of issue 6 (random, rng, elapsed, now, open, protect,
// team, shared) like the rest: outside a job each call names itself in NotInJobError. Inside a
// job, test/fixtures/stream-job.mjs uses them through the import (test/runner/state-kill.test.ts).
import test from 'ava';
import { cr, NotInJobError } from '../../src/index.js';

test('every state call of the package cr outside a job throws NotInJobError naming the call', async (t) => {
  const calls: [string, () => unknown][] = [
    ['random', () => cr.random()],
    ['rng', () => cr.rng(1)],
    ['elapsed', () => cr.elapsed()],
    ['now', () => cr.now()],
    ['open', () => cr.open('x', 'w')],
    ['protect', () => cr.protect('x', new ArrayBuffer(8))],
    ['team', () => cr.team(1, 'x.mjs')],
    ['shared', () => cr.shared('x', Float64Array, 1)],
  ];
  for (const [name, call] of calls) {
    const error = t.throws(call, { instanceOf: NotInJobError }, name);
    t.is(error?.code, 'CR_NOT_IN_JOB');
    t.true(error!.message.startsWith(`cr.${name}() was called outside a job`), error!.message);
  }
});
