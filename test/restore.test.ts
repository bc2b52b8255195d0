import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getCodec } from '../src/codec/index.js';
import { ImageCorruptError, RegionMismatchError } from '../src/errors.js';
import { DEFAULT_BLOCK_SIZE } from '../src/image/format.js';
import { ImageWriter } from '../src/image/writer.js';
import { JobContext } from '../src/job/context.js';
import { resolvePolicyOptions } from '../src/policy.js';
import { RestoredImage } from '../src/restore.js';
import { LocalStore } from '../src/store/local-store.js';

const BLOCKS = 5;

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-restore-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function context(store: LocalStore, restored: RestoredImage | null): Promise<JobContext> {
  const codec = await getCodec();
  return new JobContext({
    job: 'job',
    attempt: 1,
    store,
    writer: new ImageWriter({ codec, key: store.key, level: 1, blockSize: DEFAULT_BLOCK_SIZE, batchBlocks: 4, writerName: 'test' }),
    restored,
    policy: resolvePolicyOptions({ intervalMs: null }),
    fullEvery: 1,
    control: null,
    events: { progress: () => undefined, log: () => undefined, warning: () => undefined, checkpoint: () => undefined },
  });
}

/** Two full images of one region: every value is 1 in the first, 2 in the second. */
async function twoImages(dir: string): Promise<LocalStore> {
  const store = LocalStore.open({ dir });
  const ctx = await context(store, null);
  const field = ctx.region('field', Float64Array, (BLOCKS * DEFAULT_BLOCK_SIZE) / 8);
  for (const value of [1, 2]) {
    field.fill(value);
    await ctx.checkpoint({ force: true, durable: true });
  }
  await ctx.close();
  return store;
}

test('load decodes every block before the job starts, and cr.region hands over that memory', async (t) => {
  const store = await twoImages(tempDir(t));
  const codec = await getCodec();
  let loaded: RestoredImage | null = null;
  const latest = store.latest('job', codec, [], (reader) => (loaded = RestoredImage.load(reader)));
  t.is(latest?.entry.sequence, 2);
  // The image file is no longer needed for the region: it was decoded while loading.
  const ctx = await context(store, loaded);
  fs.rmSync(latest!.entry.file);
  const field = ctx.region('field', Float64Array, (BLOCKS * DEFAULT_BLOCK_SIZE) / 8);
  t.true(field.every((v) => v === 2));
  await ctx.close();
});

test('a damaged block fails load with ImageCorruptError, and latest then restores the image before it', async (t) => {
  const store = await twoImages(tempDir(t));
  const codec = await getCodec();
  const newest = store.list('job').at(-1)!;
  const reader = store.openImage(newest.file, codec);
  const block = reader.manifest.sections.find((s) => s.kind === 'region')!.blocks[BLOCKS - 1]!;
  reader.close();
  // One flipped bit in the stored bytes of the region's last block.
  const fd = fs.openSync(newest.file, 'r+');
  const byte = Buffer.alloc(1);
  fs.readSync(fd, byte, 0, 1, block[0] + 7);
  byte[0] ^= 0x10;
  fs.writeSync(fd, byte, 0, 1, block[0] + 7);
  fs.closeSync(fd);

  const damaged = store.openImage(newest.file, codec);
  const error = t.throws(() => RestoredImage.load(damaged), { instanceOf: ImageCorruptError });
  t.is(error?.code, 'CR_IMAGE_CORRUPT');
  t.regex(error!.message, /region "field" block 4 is damaged/);
  damaged.close();

  let loaded: RestoredImage | null = null;
  const latest = store.latest('job', codec, [], (r) => (loaded = RestoredImage.load(r)));
  t.is(latest?.entry.sequence, 1);
  t.is(latest?.skipped.length, 1);
  const ctx = await context(store, loaded);
  t.true(ctx.region('field', Float64Array, (BLOCKS * DEFAULT_BLOCK_SIZE) / 8).every((v) => v === 1));
  await ctx.close();
});

test('a loaded region asked for with another shape is RegionMismatchError, and its memory is freed at the end', async (t) => {
  const store = await twoImages(tempDir(t));
  const codec = await getCodec();
  let loaded: RestoredImage | null = null;
  store.latest('job', codec, [], (reader) => (loaded = RestoredImage.load(reader)));
  const ctx = await context(store, loaded);
  t.throws(() => ctx.region('field', Float32Array, (BLOCKS * DEFAULT_BLOCK_SIZE) / 4), { instanceOf: RegionMismatchError });
  await ctx.close();
});
