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
import { describeGrowth, markMemory, memoryGrowth, type MemoryMark } from '../memory.js';

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
  // Marks at checkpoints 200, 600 and 1000 (test/memory.ts says why two windows): a leak of
  // 60 KiB per checkpoint would add 24 MiB to each.
  const marks: MemoryMark[] = [];
  for (let i = 1; i <= 1000; i++) {
    field[(i * 7919) % field.length] = i;
    state.step = i;
    state.history[i % 1000] = i;
    const info = await ctx.checkpoint({ force: true });
    await info!.committed;
    if (i % 400 === 200) marks.push(markMemory());
  }
  await ctx.close();
  const growth = memoryGrowth(marks as [MemoryMark, MemoryMark, MemoryMark]);
  t.log(describeGrowth(growth, 400));
  t.true(growth.steady < 24 * 1048576, describeGrowth(growth, 400));
  t.true(growth.arrayBuffers < 1048576, describeGrowth(growth, 400));
  t.is(store.list('leak').length <= 4, true, 'retention kept the store small');
});
