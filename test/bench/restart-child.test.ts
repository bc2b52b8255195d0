// The bench's restart in a new process (bench/restart-child.ts): it restores the job's latest
// image in a child and reports it only if the restored region holds the value it was told to expect.
import path from 'node:path';
import test from 'ava';
import { getCodec } from '../../src/codec/index.js';
import { LocalStore } from '../../src/store/local-store.js';
import { newContext, take } from '../../bench/measure.js';
import { restartInChild } from '../../bench/restart-child.js';
import { tempDir } from '../runner/helpers.js';

test('A restart in a new process restores the latest image into fresh memory and reports its time next to a first touch; a different value at the probe, even -0 for 0, fails it.', async (t) => {
  const dir = path.join(tempDir(t, 'restart-child'), 'store');
  const codec = await getCodec({ prefer: 'native' });
  const store = LocalStore.open({ dir, keepImages: 2 });
  const bytes = 8 * 1024 * 1024;
  const ctx = newContext(codec, store, 'job');
  const field = ctx.region('field', Float64Array, bytes / 8);
  for (let i = 0; i < field.length; i++) field[i] = Math.sin(i / 100);
  await take(ctx);
  field[777] = 42; // in the second image only: the child must restore the latest
  field[5] = -0; // a probe whose sign its text form would lose
  await take(ctx);
  const expected = field[777]!;
  await ctx.close();

  const r = restartInChild(codec.name, dir, 'job', bytes, 777, expected);
  t.true(r.restartMs > 0 && r.firstTouchMs > 0, JSON.stringify(r));
  t.true(r.userMs + r.systemMs > 0, 'the restart used CPU time');
  t.throws(() => restartInChild(codec.name, dir, 'job', bytes, 777, Math.sin(777 / 100)), { message: /restore mismatch: element 777 is 42, not/ });
  t.notThrows(() => restartInChild(codec.name, dir, 'job', bytes, 5, -0));
  t.throws(() => restartInChild(codec.name, dir, 'job', bytes, 5, 0), { message: /restore mismatch: element 5/ });
});
