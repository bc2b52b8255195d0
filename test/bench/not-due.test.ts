// The bench's not-due safe point in a new process (bench/not-due.ts): the child makes its calls
// on a context whose checkpoints are not due and reports the time per call.
import test from 'ava';
import { notDueInChild } from '../../bench/not-due.js';
import { getCodec } from '../../src/codec/index.js';
import { tempDir } from '../runner/helpers.js';

test('The not-due safe point is measured in a new process and reported as a time per call.', async (t) => {
  const ns = notDueInChild((await getCodec()).name, tempDir(t, 'not-due'));
  t.true(Number.isFinite(ns) && ns > 0, String(ns));
});
