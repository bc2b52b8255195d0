// The image plan: one function decides which blocks an image writes and which it shares, and the
// writer does what it says.
import fsp from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { blockRecord, type Manifest } from '../../src/image/format.js';
import { BLOCK_COMPARE, BLOCK_SHARE, BLOCK_WRITE, blocksToStage, planImage, sharedBlock } from '../../src/image/plan.js';
import { sectionKey } from '../../src/image/sections.js';
import { codecs, header, KiB, makeWriter, noise, region, tempRoot, writeImage } from './helpers.js';

const tmp = tempRoot('plan');
test.after.always(() => tmp.cleanup());

const BLOCK = 4 * KiB;

async function firstImage(bytes: Uint8Array): Promise<Manifest> {
  const { main } = await codecs();
  const key = Buffer.alloc(32, 1);
  const written = await writeImage(path.join(tmp.dir(), '00000001.crimg'), { codec: main, key, blockSize: BLOCK }, [region('grid', 'Uint8Array', bytes)], header('job', 1));
  return written.manifest;
}

test('Without a previous image, or past fullEvery, every section is written in full.', async (t) => {
  const inputs = [region('grid', 'Uint8Array', noise(4 * BLOCK))];
  t.deepEqual(planImage(inputs, { previous: null, blockSize: BLOCK }), { parent: null, chain: 0, sections: [{ base: null, blocks: null }] });
  const previous = await firstImage(noise(4 * BLOCK));
  const incremental = planImage(inputs, { previous, blockSize: BLOCK, fullEvery: 2 });
  t.is(incremental.parent, previous);
  t.is(incremental.chain, 1);
  t.deepEqual(incremental.sections, [{ base: 0, blocks: null }]);
  const afterChain = { ...previous, parent: 'job-00000000', meta: { chain: 1 } };
  t.deepEqual(planImage(inputs, { previous: afterChain, blockSize: BLOCK, fullEvery: 2 }), { parent: null, chain: 0, sections: [{ base: null, blocks: null }] });
});

test('A section shares only with the parent section of the same key, type, length and block size.', async (t) => {
  const previous = await firstImage(noise(4 * BLOCK));
  const plan = (inputs: ReturnType<typeof region>[], blockSize = BLOCK) => planImage(inputs, { previous, blockSize }).sections[0]!.base;
  t.is(plan([region('grid', 'Uint8Array', noise(4 * BLOCK, 2))]), 0);
  t.is(plan([region('grid', 'Uint8Array', noise(5 * BLOCK))]), null, 'another length');
  t.is(plan([region('grid', 'Int8Array', noise(4 * BLOCK))]), null, 'another type');
  t.is(plan([region('other', 'Uint8Array', noise(4 * BLOCK))]), null, 'another name');
  t.is(plan([region('grid', 'Uint8Array', noise(4 * BLOCK))], 2 * BLOCK), null, 'another block size');
});

test('Blocks are not shared with a parent whose blocks are hashed otherwise (format 2, XXH64): the next image is full.', async (t) => {
  const previous = await firstImage(noise(4 * BLOCK));
  const inputs = [region('grid', 'Uint8Array', noise(4 * BLOCK))];
  t.is(planImage(inputs, { previous, blockSize: BLOCK }).sections[0]!.base, 0, 'same format: shared');
  for (const format of [1, 2]) {
    const plan = planImage(inputs, { previous: { ...previous, format }, blockSize: BLOCK });
    t.deepEqual(plan.sections, [{ base: null, blocks: null }], `format ${format}`);
  }
});

test('Dirty tracking decides a block where it knows; the raw hash decides the rest, and is asked for nothing else.', async (t) => {
  const bytes = noise(4 * BLOCK);
  const previous = await firstImage(bytes);
  const changed = new Map([[sectionKey({ kind: 'region', name: 'grid' }), Uint8Array.of(BLOCK_SHARE, BLOCK_WRITE, BLOCK_COMPARE, BLOCK_COMPARE)]]);
  const plan = planImage([region('grid', 'Uint8Array', bytes)], { previous, blockSize: BLOCK, changed });
  const section = plan.sections[0]!;
  t.is(blocksToStage(section), changed.get('region:grid') ?? null, 'staging copies the blocks written or compared');
  const base = previous.sections[0]!;
  const asked: number[] = [];
  const hash = (b: number, same: boolean) => () => {
    asked.push(b);
    return same ? blockRecord(base.blocks[b]!).rawHash : '0000000000000000';
  };
  t.deepEqual(sharedBlock(section, base, 1, 0, hash(0, false)), { ...blockRecord(base.blocks[0]!), base: 1 }, 'known unchanged: shared without hashing');
  t.is(sharedBlock(section, base, 1, 1, hash(1, true)), null, 'known written');
  t.deepEqual(sharedBlock(section, base, 1, 2, hash(2, true)), { ...blockRecord(base.blocks[2]!), base: 1 }, 'same hash: shared');
  t.is(sharedBlock(section, base, 1, 3, hash(3, false)), null, 'another hash: written');
  t.deepEqual(asked, [2, 3]);
});

test('The writer follows the plan, and reports the share of each planned section it wrote.', async (t) => {
  const bytes = noise(4 * BLOCK);
  const previous = await firstImage(bytes);
  const { main } = await codecs();
  const writer = makeWriter({ codec: main, key: Buffer.alloc(32, 1), blockSize: BLOCK });
  const next = bytes.slice();
  next[0]! ^= 1; // block 0 differs, but the plan says it is unchanged: it is shared all the same
  const inputs = [region('grid', 'Uint8Array', next), region('fresh', 'Uint8Array', noise(BLOCK))];
  const changed = new Map([[sectionKey({ kind: 'region', name: 'grid' }), Uint8Array.of(BLOCK_SHARE, BLOCK_WRITE, BLOCK_SHARE, BLOCK_COMPARE)]]);
  const plan = planImage(inputs, { previous, blockSize: BLOCK, changed });
  const handle = await fsp.open(path.join(tmp.dir(), '00000002.crimg'), 'w', 0o600);
  const written = await writer.write(handle, header('job', 2), inputs, plan).finally(() => handle.close());
  const blocks = written.manifest.sections[0]!.blocks.map((b) => blockRecord(b).base);
  t.deepEqual(blocks, [1, null, 1, 1]);
  t.is(written.manifest.parent, previous.id);
  t.deepEqual(written.manifest.bases, [1]);
  t.is(written.sharedBytes, 3 * BLOCK);
  t.deepEqual(written.sections, [
    { key: 'region:grid', changedShare: 1 / 4 },
    { key: 'region:fresh', changedShare: null },
  ]);
});
