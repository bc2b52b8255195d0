import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getCodec } from '../../src/codec/index.js';
import { DEFAULT_BLOCK_SIZE } from '../../src/image/format.js';
import { ImageWriter } from '../../src/image/writer.js';
import { JobContext } from '../../src/job/context.js';
import { resolvePolicyOptions } from '../../src/policy.js';
import { LocalStore } from '../../src/store/local-store.js';

// Serial: other tests' allocations would blur a resident-memory measurement.
test.serial('a loop of 1,000 checkpoints keeps resident memory flat', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-leak-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const codec = await getCodec();
  const store = LocalStore.open({ dir, keepImages: 2 });
  const writer = new ImageWriter({ codec, key: store.key, level: 1, blockSize: DEFAULT_BLOCK_SIZE, batchBlocks: 8, writerName: 'test' });
  const ctx = new JobContext({
    job: 'leak',
    attempt: 1,
    store,
    writer,
    restored: null,
    policy: resolvePolicyOptions({ intervalMs: null }),
    fullEvery: 4,
    control: null,
    events: { progress: () => undefined, log: () => undefined, warning: () => undefined, checkpoint: () => undefined },
  });
  const field = ctx.region('field', Float64Array, (4 * DEFAULT_BLOCK_SIZE) / 8);
  const state = ctx.state('s', { step: 0, history: new Float64Array(1000) });
  const rss: number[] = [];
  for (let i = 1; i <= 1000; i++) {
    field[(i * 7919) % field.length] = i;
    state.step = i;
    state.history[i % 1000] = i;
    const info = await ctx.checkpoint({ force: true });
    await info!.committed;
    if (i % 100 === 0) rss.push(process.memoryUsage.rss());
  }
  await ctx.close();
  const growth = (rss[rss.length - 1]! - rss[1]!) / (1024 * 1024);
  t.log(`resident memory from checkpoint 200 to 1000: ${growth.toFixed(1)} MiB (${rss.map((r) => (r / 1048576).toFixed(0)).join(', ')} MiB)`);
  t.true(growth < 24, `resident memory grew by ${growth.toFixed(1)} MiB over 800 checkpoints`);
  t.is(store.list('leak').length <= 4, true, 'retention kept the store small');
});
