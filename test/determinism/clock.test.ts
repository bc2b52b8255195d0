import test from 'ava';
import { attempt, tempDir } from '../job/harness.js';

test('elapsed() goes on after a restart from the compute time the image captured, not from zero', async (t) => {
  const dir = tempDir(t, 'clock');
  const first = await attempt(dir, false);
  const start = first.context.elapsed();
  // Burn a little compute time, so the image holds a clearly non-zero figure.
  const until = performance.now() + 30;
  while (performance.now() < until);
  await first.context.checkpoint({ force: true, durable: true });
  const atImage = first.context.elapsed();
  t.true(atImage >= start + 30);
  await first.context.close();

  const second = await attempt(dir, true);
  const resumed = second.context.elapsed();
  // It resumes from the image's figure (≥ 30 ms), not from this attempt's start.
  t.true(resumed >= 30, `resumed at ${resumed} ms`);
  t.true(resumed <= atImage + (performance.now() - until) + 1);
  t.true(second.context.elapsed() >= resumed, 'monotonic');
  await second.context.close();
});

test('a fresh start counts from zero, and now() is the wall clock', async (t) => {
  const { context } = await attempt(tempDir(t, 'clock'), false);
  const e = context.elapsed();
  t.true(e >= 0 && e < 60_000);
  const before = Date.now();
  const now = context.now();
  t.true(now >= before && now <= Date.now());
  await context.close();
});
