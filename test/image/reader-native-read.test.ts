// The reader's native read path: with the addon, ImageReader hands whole runs of blocks to the
// codec's readBlocks, whose threads pread each block's stored bytes themselves and verify and
// decode them into the destination (docs/image-format.md, "Restore pipeline"). These tests
// check that every refusal of the JS read path comes out of it unchanged: class, code, reason,
// message and file, and the first bad block first.
import test from 'ava';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { getNativeCodec, getPortableCodec, type BlockCodec } from '../../src/codec/index.js';
import { ImageCorruptError } from '../../src/errors.js';
import { BLOCK_FLAG_PLANES, type Manifest, type RegionSection } from '../../src/image/format.js';
import { ImageReader } from '../../src/image/reader.js';
import { planImage } from '../../src/image/plan.js';
import type { SectionInput } from '../../src/image/sections.js';
import { RestoredImage } from '../../src/restore.js';
import { LocalStore } from '../../src/store/local-store.js';
import {
  KiB,
  equalBytes,
  header,
  makeWriter,
  newKey,
  noise,
  region,
  rewriteManifest,
  smoothBytes,
  splitImage,
  tempRoot,
  throwsCorrupt,
  writeImage,
} from './helpers.js';
import { cachedBytes, directReadsUntestable, dropCache } from '../page-cache.js';

const tmp = tempRoot('reader-native');
test.after.always(() => tmp.cleanup());

const native = getNativeCodec();
if (!native) throw new Error('the native addon must load for these tests');
const codec: BlockCodec = native;
const key = newKey();
const BLOCK = 16 * KiB;

/** A region of `blocks` blocks: smooth (zstd + shuffle blocks) or noise (raw blocks). */
function field(blocks: number, kind: 'smooth' | 'noise', seed = 1): Uint8Array {
  return kind === 'smooth' ? smoothBytes(blocks * BLOCK, seed) : noise(blocks * BLOCK, seed);
}

async function oneRegionImage(file: string, data: Uint8Array, job = 'job', sequence = 1): Promise<void> {
  await writeImage(file, { codec, key, blockSize: BLOCK, batchBlocks: 3 }, [region('grid', 'Float64Array', data)], header(job, sequence));
}

function gridSection(reader: ImageReader): RegionSection {
  return reader.manifest.sections.find((s): s is RegionSection => s.kind === 'region')!;
}

/** Inverts one bit of the stored bytes of block `index` of the image's region, in place. */
function damageBlock(file: string, index: number, at = 5): void {
  const { manifest } = splitImage(file);
  const block = manifest.sections.find((s) => s.kind === 'region')!.blocks[index]!;
  const fd = fs.openSync(file, 'r+');
  const byte = Buffer.alloc(1);
  fs.readSync(fd, byte, 0, 1, block[0] + at);
  byte[0]! ^= 0x04;
  fs.writeSync(fd, byte, 0, 1, block[0] + at);
  fs.closeSync(fd);
}

function readGrid(file: string, expect?: { job?: string; sequence?: number }): Uint8Array {
  const reader = ImageReader.open(file, { codec, key, expect });
  try {
    return reader.readSection(gridSection(reader));
  } finally {
    reader.close();
  }
}

test('The native codec reads blocks itself, and what it reads equals what was written and what the portable codec reads.', async (t) => {
  t.is(typeof codec.readBlocks, 'function');
  const portable = await getPortableCodec();
  t.is(portable.readBlocks, undefined, 'the portable codec reads on the JS thread');
  const dir = tmp.dir();
  for (const kind of ['smooth', 'noise'] as const) {
    const data = field(37, kind, 7);
    const file = path.join(dir, `${kind}.crimg`);
    await oneRegionImage(file, data);
    const flags = new Set(splitImage(file).manifest.sections[0]!.blocks.map((b) => b[3]));
    t.deepEqual([...flags], [kind === 'smooth' ? BLOCK_FLAG_PLANES : 0], `${kind}: ${kind === 'smooth' ? 'plane-coded blocks' : 'raw blocks, read straight into place'}`);
    t.true(equalBytes(readGrid(file), data), kind);
    const reader = ImageReader.open(file, { codec: portable, key });
    t.true(equalBytes(reader.readSection(gridSection(reader)), data), `${kind}, portable`);
    reader.close();
  }
});

test('A flipped bit in a compressed or a raw block is ImageCorruptError naming the block, from readSection, verifyFull and RestoredImage.load.', async (t) => {
  const dir = tmp.dir();
  for (const kind of ['smooth', 'noise'] as const) {
    const file = path.join(dir, `${kind}.crimg`);
    await oneRegionImage(file, field(20, kind, 3));
    damageBlock(file, 13);
    const reader = ImageReader.open(file, { codec, key });
    let err = throwsCorrupt(t, () => reader.readSection(gridSection(reader)), 'block', kind);
    t.regex(err.message, /region "grid" block 13 is damaged: its stored bytes do not match their hash/);
    t.is(err.file, file);
    throwsCorrupt(t, () => reader.verifyFull(), 'block', kind);
    err = throwsCorrupt(t, () => RestoredImage.load(reader), 'block', kind);
    t.regex(err.message, /block 13/);
    reader.close();
  }
});

test('Of several damaged blocks, the first one is reported.', async (t) => {
  const file = path.join(tmp.dir(), 'multi.crimg');
  await oneRegionImage(file, field(40, 'smooth'));
  for (const b of [31, 9, 22]) damageBlock(file, b);
  const err = throwsCorrupt(t, () => readGrid(file), 'block');
  t.regex(err.message, /block 9 is damaged/);
});

/** 1500 states: a small v8 stream each, and states 0, 100 and 200 a typed array of three blocks (element size 8) too. */
function manyStates(): SectionInput[] {
  const inputs: SectionInput[] = [];
  for (let i = 0; i < 1500; i++) {
    const name = `s${i}`;
    inputs.push({ kind: 'state', role: 'v8', name, data: i % 2 === 0 ? noise(40 + (i % 50), i) : smoothBytes(64 + (i % 7) * 8, i) });
    if (i % 100 === 0 && i <= 200) inputs.push({ kind: 'state', role: 'buffer', name, index: 0, elementSize: 8, data: smoothBytes(3 * BLOCK - 24, i) });
  }
  return inputs;
}

/** Inverts one bit of the stored bytes of block `index` of the v8 section of state `name`, in place. */
function damageState(file: string, name: string, index = 0): void {
  const { manifest } = splitImage(file);
  const block = manifest.sections.find((s) => s.kind === 'state' && s.name === name && s.role === 'v8')!.blocks[index]!;
  const fd = fs.openSync(file, 'r+');
  const byte = Buffer.alloc(1);
  fs.readSync(fd, byte, 0, 1, block[0] + 1);
  byte[0]! ^= 0x10;
  fs.writeSync(fd, byte, 0, 1, block[0] + 1);
  fs.closeSync(fd);
}

test('readSections reads many small sections in a few readBlocks calls, each equal to what was written, and a damaged block names its own section.', async (t) => {
  const file = path.join(tmp.dir(), 'states.crimg');
  const inputs = manyStates();
  await writeImage(file, { codec, key, blockSize: BLOCK, batchBlocks: 3 }, inputs);
  let calls = 0;
  const counting: BlockCodec = { ...codec, readBlocks: (r) => (calls++, codec.readBlocks!(r)) };
  const reader = ImageReader.open(file, { codec: counting, key });
  const sections = reader.manifest.sections;
  const bytes = reader.readSections(sections);
  t.is(bytes.length, inputs.length);
  t.true(bytes.every((b, i) => equalBytes(b, inputs[i]!.data)), 'every section reads back as written');
  // 1509 blocks in 1503 sections: calls are cut where the element size changes (six times) and
  // at 1024 blocks (once, in the run of states 201 to 1499).
  t.is(calls, 8);
  reader.close();

  damageState(file, 's1234');
  damageState(file, 's1400');
  const damaged = ImageReader.open(file, { codec, key });
  const err = throwsCorrupt(t, () => damaged.readSections(damaged.manifest.sections), 'block');
  t.is(err.message, `${file}: state "s1234" block 0 is damaged: its stored bytes do not match their hash`);
  t.is(err.file, file);
  const load = throwsCorrupt(t, () => RestoredImage.load(damaged), 'block');
  t.regex(load.message, /state "s1234" block 0/);
  damaged.close();
});

test('readSections gives a section of 16 MiB or more memory of its own and packs the smaller ones around it into shared memory of at most 16 MiB.', async (t) => {
  const file = path.join(tmp.dir(), 'big-state.crimg');
  const MiB = 1 << 20;
  const inputs: SectionInput[] = [
    { kind: 'state', role: 'v8', name: 'a', data: noise(100, 1) },
    { kind: 'state', role: 'buffer', name: 'a', index: 0, elementSize: 8, data: smoothBytes(16 * MiB, 2) },
    { kind: 'state', role: 'v8', name: 'b', data: noise(200, 3) },
    { kind: 'state', role: 'buffer', name: 'b', index: 0, elementSize: 8, data: smoothBytes(9 * MiB, 4) },
    { kind: 'state', role: 'buffer', name: 'b', index: 1, elementSize: 8, data: smoothBytes(9 * MiB, 5) },
  ];
  await writeImage(file, { codec, key, blockSize: 1 << 20, batchBlocks: 4 }, inputs);
  const reader = ImageReader.open(file, { codec, key });
  t.teardown(() => reader.close());
  const bytes = reader.readSections(reader.manifest.sections);
  t.true(bytes.every((b, i) => equalBytes(b, inputs[i]!.data)), 'every section reads back as written');
  t.is(bytes[1]!.buffer.byteLength, 16 * MiB, 'the 16 MiB section has its own memory');
  t.is(bytes[0]!.buffer, bytes[2]!.buffer, 'the small sections on both sides of it share theirs');
  t.is(bytes[2]!.buffer, bytes[3]!.buffer);
  t.not(bytes[3]!.buffer, bytes[4]!.buffer, 'two 9 MiB sections do not fit in one 16 MiB pack');
  t.true(bytes.every((b) => b.buffer.byteLength <= 16 * MiB));
});

test('A file cut short after it was opened, inside a block (a short read, then the end) or at a block\'s first byte, is refused as truncated.', async (t) => {
  const dir = tmp.dir();
  const original = path.join(dir, 'whole.crimg');
  await oneRegionImage(original, field(12, 'smooth'));
  const blocks = splitImage(original).manifest.sections[0]!.blocks;
  for (const [what, cut] of [
    ['inside block 7', blocks[7]![0] + Math.floor(blocks[7]![1] / 2)],
    ['at the first byte of block 7', blocks[7]![0]],
    ['one byte before the end of block 11', blocks[11]![0] + blocks[11]![1] - 1],
  ] as const) {
    const file = path.join(dir, `cut-${cut}.crimg`);
    fs.copyFileSync(original, file);
    const reader = ImageReader.open(file, { codec, key });
    fs.truncateSync(file, cut);
    const err = throwsCorrupt(t, () => reader.readSection(gridSection(reader)), 'truncated', what);
    t.is(err.file, file, what);
    t.regex(err.message, /the file ended before a block it lists/);
    reader.close();
  }
});

test('A signed manifest whose block reaches past the block area is refused before a byte of it is read.', async (t) => {
  const dir = tmp.dir();
  const file = path.join(dir, 'good.crimg');
  await oneRegionImage(file, field(6, 'smooth'));
  const out = path.join(dir, 'long.crimg');
  rewriteManifest(file, out, key, codec, (m) => {
    const block = m.sections[0].blocks[5];
    block[1] += 64; // the stored length now runs into the manifest
  });
  throwsCorrupt(t, () => ImageReader.open(out, { codec, key }), 'manifest');
});

/** Image 1 of a region and image 2 that changed only block 0, sharing the other blocks with image 1. */
async function incremental(dir: string, blocks: number): Promise<{ base: string; image: string; data: Uint8Array }> {
  const writer = makeWriter({ codec, key, blockSize: BLOCK, batchBlocks: 3 });
  const first = field(blocks, 'smooth', 11);
  const base = path.join(dir, '00000001.crimg');
  const written = await writeImage(base, { codec, key }, [region('grid', 'Float64Array', first)], header('job', 1), writer);
  const data = first.slice();
  data[3]! ^= 0xff;
  const image = path.join(dir, '00000002.crimg');
  const handle = await fsp.open(image, 'w', 0o600);
  try {
    const inputs = [region('grid', 'Float64Array', data)];
    await writer.write(handle, header('job', 2), inputs, planImage(inputs, { previous: written.manifest, blockSize: writer.blockSize }));
  } finally {
    await handle.close();
  }
  return { base, image, data };
}

test('An incremental image reads its shared blocks from its base through the same path.', async (t) => {
  const { image, data } = await incremental(tmp.dir(), 9);
  const manifest = splitImage(image).manifest as Manifest;
  t.is(manifest.sections[0]!.blocks.filter((b) => b[6] === 1).length, 8);
  t.true(equalBytes(readGrid(image, { job: 'job', sequence: 2 }), data));
});

test('A shared block that lies past the end of its base\'s blocks is refused as manifest damage.', async (t) => {
  const dir = tmp.dir();
  const { base, image } = await incremental(dir, 5);
  const baseEnd = splitImage(base).manifestOffset;
  rewriteManifest(image, image, key, codec, (m) => {
    const block = m.sections[0].blocks[3];
    block[0] = baseEnd - Math.floor(block[1] / 2); // starts in the base's block area, ends in its manifest
  });
  const err = throwsCorrupt(t, () => readGrid(image), 'manifest');
  t.regex(err.message, /region "grid" block 3 lies outside the blocks of .*00000001\.crimg/);
});

test('A missing base is refused as base, unless a block before the first shared one is damaged: the first bad block is reported.', async (t) => {
  const dir = tmp.dir();
  const { base, image } = await incremental(dir, 5);
  const kept = path.join(dir, 'kept');
  fs.renameSync(base, kept);
  let err = throwsCorrupt(t, () => readGrid(image), 'base');
  t.regex(err.message, /image job-00000001, which is missing/);
  damageBlock(image, 0);
  err = throwsCorrupt(t, () => readGrid(image), 'block');
  t.regex(err.message, /block 0 is damaged/);
});

test('A restore whose newest image has a damaged block falls back to the image before it.', async (t) => {
  const store = LocalStore.open({ dir: tmp.dir('store') });
  const writer = makeWriter({ codec, key: store.key, blockSize: BLOCK, batchBlocks: 3 });
  const datas = [field(10, 'smooth', 1), field(10, 'smooth', 2)];
  for (const [i, data] of datas.entries()) {
    await store.commit('job', i + 1, (h) => writer.write(h, header('job', i + 1), [region('grid', 'Float64Array', data)]));
  }
  const newest = store.list('job').at(-1)!;
  damageBlock(newest.file, 8);
  let loaded: RestoredImage | null = null;
  const latest = store.latest('job', codec, [], (reader) => (loaded = RestoredImage.load(reader)));
  t.is(latest?.entry.sequence, 1);
  t.is(latest?.skipped.length, 1);
  t.true(latest?.skipped[0]!.error instanceof ImageCorruptError);
  t.is((latest?.skipped[0]!.error as ImageCorruptError).reason, 'block');
  const image = loaded! as RestoredImage;
  const memory = image.region('grid', Float64Array, 'Float64Array', datas[0]!.length / 8);
  t.true(equalBytes(memory.bytes, datas[0]!));
  memory.free();
  image.close();
});

const directReason = directReadsUntestable(tmp.dir());
if (directReason) console.log(`skipping the direct-read test: ${directReason}`);

(directReason ? test.skip : test)('An incremental image the page cache does not hold is read past it, from both files, and restores exactly.', async (t) => {
  // 1024 blocks of 16 KiB, one readBlocks call, enough stored bytes (8 MiB) to be read past the cache.
  const { base, image, data } = await incremental(tmp.dir(), 1024);
  t.true(fs.statSync(base).size > 8.5 * 1024 * 1024);
  for (const file of [base, image]) dropCache(file);
  t.true(equalBytes(readGrid(image, { job: 'job', sequence: 2 }), data));
  // The JS reader reads headers, manifests and footers through the cache; the blocks are not.
  // The base holds 1023 of the 1024 blocks; the image, one block and its manifest.
  const size = fs.statSync(base).size;
  t.true(cachedBytes(base) < size / 4, `the base: ${cachedBytes(base)} of ${size} bytes cached`);
});
