// What each checkpoint cost, as its node reported it: kept per image, for good (retention removes
// image records, not these), and a figure that is not a finite number from 0 up is kept as 0.
import test from 'ava';
import { ImageStats } from '../../../scheduler/server/image-stats.js';
import { tempDir } from '../../runner/helpers.js';
import { core, submit } from './helpers.js';

test('image stats keep each checkpoint\'s raw bytes, pause, commit time and kind, and keep a figure a node got wrong as 0.', async (t) => {
  const c = await core(t, tempDir(t, 'stats'));
  const job = await submit(c);
  await c.imageStats.record(job, 1, 1, false, { rawBytes: 4096, pauseMs: 1.5, commitMs: 20 });
  await c.imageStats.record(job, 2, 1, true, { rawBytes: -1, pauseMs: Number.NaN, commitMs: 'x' });
  await c.imageStats.record(job, 3, 2, true, {});
  t.deepEqual(await c.imageStats.of(job), [
    { sequence: 1, attempt: 1, rawBytes: 4096, pauseMs: 1.5, commitMs: 20, incremental: false },
    { sequence: 2, attempt: 1, rawBytes: 0, pauseMs: 0, commitMs: 0, incremental: true },
    { sequence: 3, attempt: 2, rawBytes: 0, pauseMs: 0, commitMs: 0, incremental: true },
  ]);
  t.deepEqual(await c.imageStats.of(job + 1), []);
  // A second record of one image (an upload tried again) replaces the first.
  await c.imageStats.record(job, 1, 1, false, { rawBytes: 8192, pauseMs: 2, commitMs: 30 });
  t.is((await c.imageStats.of(job))[0]!.rawBytes, 8192);
  // The table is the scheduler's: a new ImageStats on the same database sees it.
  t.is((await new ImageStats(c.db).of(job)).length, 3);
});
