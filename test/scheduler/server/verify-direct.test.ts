// Reading an upload back through O_DIRECT (scheduler/server/verify-direct.ts): it answers as
// ImageReader.verifyStored does, whole or with the same error, wherever the damage is.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { verifyStoredDirect } from '../../../scheduler/server/verify-direct.js';
import { getNativeCodec, type BlockCodec } from '../../../src/codec/index.js';
import { DIRECT_CHUNK, DirectStaging } from '../../../src/image/direct-sink.js';
import { ImageReader } from '../../../src/image/reader.js';
import { MiB, makeWriter, newKey, noise, region, tempRoot, writeTo } from '../../image/helpers.js';

const tmp = tempRoot('verify-direct');
test.after.always(() => tmp.cleanup());

const native = getNativeCodec();
if (!native) throw new Error('the native addon must load for these tests');
const codec: BlockCodec = native;
const key = newKey();

test('verifyStoredDirect reads an image back once through O_DIRECT and refuses what verifyStored refuses, with the same error: blocks across staging pieces, a base, damage anywhere.', async (t) => {
  const dir = tmp.dir();
  // Raw 1 MiB blocks of noise over more than two staging pieces: blocks cross piece boundaries.
  const big = noise(2 * DIRECT_CHUNK + 5 * MiB + 8 * 77, 12);
  const writer = makeWriter({ codec, key, blockSize: MiB, batchBlocks: 4 });
  const first = path.join(dir, '00000001.crimg');
  const base = await writeTo(first, writer, [region('noise', 'Float64Array', big)], true);
  const changed = big.slice();
  for (let b = 0; b < changed.length; b += 5 * MiB) changed[b]! ^= 1;
  const second = path.join(dir, '00000002.crimg');
  await writeTo(second, writer, [region('noise', 'Float64Array', changed)], true, { manifest: base.manifest }, 2);
  const staging = new DirectStaging();
  t.teardown(() => staging.free());
  const outcome = async (file: string, sequence: number, direct: boolean): Promise<string> => {
    const reader = ImageReader.open(file, { codec, key, expect: { job: 'job', sequence } });
    try {
      if (direct) await verifyStoredDirect(reader, codec, staging);
      else reader.verifyStored();
      return 'whole';
    } catch (err) {
      return `${(err as Error).constructor.name}: ${(err as Error).message}`;
    } finally {
      reader.close();
    }
  };
  t.is(await outcome(first, 1, true), 'whole');
  t.is(await outcome(second, 2, true), 'whole', 'an incremental image, its shared blocks read from its base');
  const blocks = base.manifest.sections[0]!.blocks;
  t.true(blocks.some(([offset, stored]) => Math.floor(offset / DIRECT_CHUNK) !== Math.floor((offset + stored - 1) / DIRECT_CHUNK)), 'a block crosses a piece boundary');
  // Damage in the first block, in one that crosses a piece boundary, in the last one; and in the base.
  const crossing = blocks.findIndex(([offset, stored]) => Math.floor(offset / DIRECT_CHUNK) !== Math.floor((offset + stored - 1) / DIRECT_CHUNK));
  for (const [i, at] of [0, crossing, blocks.length - 1].entries()) {
    const bytes = fs.readFileSync(first);
    const [offset, stored] = blocks[at]!;
    bytes[offset + (i === 1 ? DIRECT_CHUNK - (offset % DIRECT_CHUNK) : stored - 1)]! ^= 0x80;
    const damaged = path.join(dir, `damaged-${i}`, '00000001.crimg');
    fs.mkdirSync(path.dirname(damaged));
    fs.writeFileSync(damaged, bytes);
    const expected = await outcome(damaged, 1, false);
    t.regex(expected, new RegExp(`block ${at} is damaged`));
    t.is(await outcome(damaged, 1, true), expected, `damage in block ${at}`);
    // The same damaged file as the base of the incremental image.
    fs.copyFileSync(second, path.join(path.dirname(damaged), '00000002.crimg'));
    t.is(await outcome(path.join(path.dirname(damaged), '00000002.crimg'), 2, true), await outcome(path.join(path.dirname(damaged), '00000002.crimg'), 2, false), `base damaged in block ${at}`);
  }
});
