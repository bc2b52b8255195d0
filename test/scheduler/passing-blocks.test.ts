// Blocks hashed as an image's bytes stream past (scheduler/passing-blocks.ts): with the image's
// tail sent ahead, every block of the file is hashed in passing whatever the pieces' sizes, and
// verifyStored then reads none of them again; bytes damaged on the way, a tail that lies or is
// garbage, and parts that cut blocks in two only ever cost reads, never let a damaged image pass.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { PassingBlocks } from '../../scheduler/passing-blocks.js';
import { FOOTER_LENGTH } from '../../src/image/format.js';
import { KiB, MiB, codecs, header, newKey, noise, region, smallInputs, splitImage, tempRoot, throwsCorrupt, withReader, writeImage, writeWithManifest } from '../image/helpers.js';

const tmp = tempRoot('passing');
test.after.always(() => tmp.cleanup());
const key = newKey();

/** An image of many 64 KiB blocks in several sections; its file and bytes. */
async function image(name: string, seed = 1): Promise<{ file: string; bytes: Buffer }> {
  const { main } = await codecs();
  const file = path.join(tmp.dir(), name);
  await writeImage(file, { codec: main, key, blockSize: 64 * KiB }, [...smallInputs(seed), region('noise', 'Uint8Array', noise(MiB + 12_345, seed))], header('job', 1));
  return { file, bytes: fs.readFileSync(file) };
}

const tailOf = (bytes: Buffer): Buffer => {
  const manifestOffset = Number(bytes.readBigUInt64LE(bytes.length - FOOTER_LENGTH));
  return bytes.subarray(manifestOffset);
};

function pass(blocks: PassingBlocks, bytes: Buffer, from: number, to: number, piece: number): void {
  const stream = blocks.stream(from);
  for (let at = from; at < to; at += piece) stream.pass(bytes.subarray(at, Math.min(to, at + piece)));
}

test('Every block of an image streamed in pieces of any size is hashed in passing, and verifyStored reads none of them again.', async (t) => {
  const { main } = await codecs();
  const { file, bytes } = await image('whole.crimg');
  const { manifest } = splitImage(file);
  const blocks = manifest.sections.flatMap((s) => s.blocks);
  t.true(blocks.length > 20, 'many blocks');
  for (const piece of [1, 4093, 64 * KiB, 64 * KiB + 1, MiB + 3, bytes.length]) {
    const passing = PassingBlocks.fromTail(main, tailOf(bytes), bytes.length);
    t.not(passing, null);
    pass(passing!, bytes, 0, bytes.length, piece);
    t.true(
      blocks.every(([offset, stored, , , hash]) => passing!.passed(offset, stored, hash)),
      `pieces of ${piece} bytes: every block passed`,
    );
    t.false(passing!.passed(blocks[0]![0], blocks[0]![1], '0123456789abcdef'), 'another hash is not a fact');
    // A block changed on disk after its bytes passed is not seen: nothing was read again.
    const changed = path.join(tmp.dir(), `changed-${piece}.crimg`);
    const copy = Buffer.from(bytes);
    copy[blocks[3]![0] + 7]! ^= 0x10;
    fs.writeFileSync(changed, copy);
    withReader(changed, main, key, (r) => t.notThrows(() => r.verifyStored(passing), `pieces of ${piece} bytes`));
    throwsCorrupt(t, () => withReader(changed, main, key, (r) => r.verifyStored()), 'block', 'read back, the change is found');
  }
});

test('Bytes damaged on the way, a tail that lies and a garbage tail never let a damaged image pass; a whole one passes after reads.', async (t) => {
  const { main } = await codecs();
  const { file, bytes } = await image('good.crimg');
  const parts = splitImage(file);
  const firstBlock = parts.manifest.sections.flatMap((s) => s.blocks)[5]!;
  // The stream delivers (and the file keeps) a damaged byte; the tail is the true one.
  const damaged = Buffer.from(bytes);
  damaged[firstBlock[0] + 100]! ^= 1;
  const damagedFile = path.join(tmp.dir(), 'damaged.crimg');
  fs.writeFileSync(damagedFile, damaged);
  const truthful = PassingBlocks.fromTail(main, tailOf(bytes), bytes.length)!;
  pass(truthful, damaged, 0, damaged.length, 50_000);
  throwsCorrupt(t, () => withReader(damagedFile, main, key, (r) => r.verifyStored(truthful)), 'block', 'damaged in transit');

  // Tails that lie: every block but the first one byte earlier, or another image's manifest (hashes of other bytes).
  const shifted = JSON.parse(parts.manifestBytes.toString('utf8')) as { sections: { blocks: number[][] }[] };
  for (const s of shifted.sections) for (const b of s.blocks) if (b[0]! > 16) b[0]! -= 1;
  const liar = path.join(tmp.dir(), 'liar.crimg');
  writeWithManifest(liar, parts, Buffer.from(JSON.stringify(shifted)), key, main);
  const other = await image('other.crimg', 9);
  const lies = [tailOf(fs.readFileSync(liar)), tailOf(other.bytes)];
  for (const [i, lie] of lies.entries()) {
    // Sized so that the lie's footer fits: the tail is taken, its blocks hashed where it says.
    const fromLie = PassingBlocks.fromTail(main, lie, lie.length + Number(lie.readBigUInt64LE(lie.length - FOOTER_LENGTH)));
    t.not(fromLie, null, `lie ${i} is taken`);
    if (fromLie === null) continue;
    pass(fromLie, damaged, 0, damaged.length, 64 * KiB);
    throwsCorrupt(t, () => withReader(damagedFile, main, key, (r) => r.verifyStored(fromLie)), 'block', `lie ${i}, damaged image`);
    const forGood = PassingBlocks.fromTail(main, lie, lie.length + Number(lie.readBigUInt64LE(lie.length - FOOTER_LENGTH)))!;
    pass(forGood, bytes, 0, bytes.length, 64 * KiB);
    withReader(file, main, key, (r) => t.notThrows(() => r.verifyStored(forGood), `lie ${i}, whole image`));
  }

  // Garbage: too short, no footer magic, lengths that do not fit the size, a manifest that is not JSON.
  const tail = tailOf(bytes);
  const notJson = Buffer.from(tail);
  notJson[0] = 0x7b + 1;
  const garbage: [string, Buffer, number][] = [
    ['too short', tail.subarray(tail.length - 10), bytes.length],
    ['no magic', Buffer.concat([tail.subarray(0, tail.length - 1), Buffer.from([0])]), bytes.length],
    ['another size', tail, bytes.length + 1],
    ['not JSON', notJson, bytes.length],
  ];
  for (const [what, bad, size] of garbage) t.is(PassingBlocks.fromTail(main, bad, size), null, what);
});

test('Parts hash the blocks that lie wholly in their ranges; a block cut by a part boundary is read back.', async (t) => {
  const { main } = await codecs();
  const { file, bytes } = await image('parts.crimg');
  const blocks = splitImage(file).manifest.sections.flatMap((s) => s.blocks);
  const cut = blocks[10]!;
  const boundary = cut[0] + Math.floor(cut[1] / 2);
  const passing = PassingBlocks.fromTail(main, tailOf(bytes), bytes.length)!;
  // The second part streams first: parts arrive in any order.
  pass(passing, bytes, boundary, bytes.length, 30_000);
  pass(passing, bytes, 0, boundary, 30_000);
  for (const b of blocks) t.is(passing.passed(b[0], b[1], b[4]), b !== cut, `block at ${b[0]}`);
  withReader(file, main, key, (r) => t.notThrows(() => r.verifyStored(passing)));
  const damaged = Buffer.from(bytes);
  damaged[cut[0] + 1]! ^= 4;
  const damagedFile = path.join(tmp.dir(), 'cut-damaged.crimg');
  fs.writeFileSync(damagedFile, damaged);
  throwsCorrupt(t, () => withReader(damagedFile, main, key, (r) => r.verifyStored(passing)), 'block', 'the cut block is read back');
});
