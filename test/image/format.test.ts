// Format versions (src/image/format.ts): images of formats 1 and 2 stay readable after format 2
// added plane-coded blocks and format 3 hashed blocks with XXH3. Each fixture was written by the
// writer of its format (cr before plane coding; cr before XXH3) with the inputs rebuilt below and
// the key 32 × 0x5a.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BLOCK_FLAG_PLANES, FORMAT_VERSION } from '../../src/image/format.js';
import type { SectionInput } from '../../src/image/sections.js';
import { assertSectionsEqual, codecs, header, noise, region, rewriteManifest, smoothBytes, splitImage, tempRoot, throwsCorrupt, withReader, writeImage, writeWithManifest, openAndVerify, KiB } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// ava runs the compiled copy under dist/; the fixture stays in the source tree.
const fixture = (format: number): string => path.resolve(here, `../../../test/fixtures/images/format-${format}/00000001.crimg`);
const FIXTURE = fixture(1);
const KEY = Buffer.alloc(32, 0x5a);
const tmp = tempRoot('format');
test.after.always(() => tmp.cleanup());

/** What the fixture holds, rebuilt by the same deterministic helpers that wrote it. */
function fixtureInputs(): SectionInput[] {
  return [
    { kind: 'state', role: 'v8', name: 'progress', data: noise(300, 1) },
    { kind: 'state', role: 'buffer', name: 'progress', index: 0, elementSize: 8, data: smoothBytes(6 * KiB, 2) },
    region('grid', 'Float64Array', smoothBytes(40000, 7)),
    region('counts', 'Int32Array', new Uint8Array(new Int32Array(3000).map((_, i) => i * 3).buffer)),
    region('mask', 'Uint8Array', noise(5000, 4)),
  ];
}

for (const format of [1, 2]) {
  test(`An image of format ${format} reads back intact with every codec.`, async (t) => {
    const file = fixture(format);
    t.is(splitImage(file).header.readUInt32LE(8), format, `the fixture is a format-${format} image`);
    const { all } = await codecs();
    for (const codec of all) {
      withReader(file, codec, KEY, (r) => {
        t.is(r.manifest.format, format);
        r.verifyStored();
        r.verifyFull();
        assertSectionsEqual(t, r, fixtureInputs(), codec.name);
      }, { job: 'fixture', sequence: 1 });
    }
  });
}

test('The format-2 fixture holds plane-coded and raw blocks, all hashed with XXH64.', async (t) => {
  const { main: codec } = await codecs();
  withReader(fixture(2), codec, KEY, (r) => {
    const flags = r.manifest.sections.flatMap((s) => s.blocks.map((b) => b[3]));
    t.true(flags.includes(BLOCK_FLAG_PLANES));
    t.true(flags.includes(0));
    const raw = r.manifest.sections.find((s) => s.name === 'mask')!.blocks[0]!;
    const bytes = fs.readFileSync(fixture(2)).subarray(raw[0], raw[0] + raw[1]);
    t.is(raw[4], codec.blockHash(bytes, 'xxh64').toString(16).padStart(16, '0'));
    t.not(raw[4], codec.blockHash(bytes, 'xxh3').toString(16).padStart(16, '0'));
  }, { job: 'fixture', sequence: 1 });
});

test('An image that shares blocks with a base of another block hash is refused as damage, naming the base.', async (t) => {
  // The plan never makes one (image/plan.ts); a reader must not check one base's blocks with the other's hash.
  const { main: codec } = await codecs();
  const dir = tmp.dir();
  fs.copyFileSync(fixture(2), path.join(dir, '00000001.crimg'));
  const out = path.join(dir, '00000002.crimg');
  // A format-3 image whose every block is the base's, with the base's hashes.
  const parts = splitImage(fixture(2));
  const header = Buffer.from(parts.header);
  header.writeUInt32LE(FORMAT_VERSION, 8);
  const m = JSON.parse(parts.manifestBytes.toString('utf8')) as Record<string, any>;
  Object.assign(m, { format: FORMAT_VERSION, id: 'fixture-00000002', sequence: 2, parent: 'fixture-00000001', bases: [1] });
  for (const s of m.sections) for (const b of s.blocks) b[6] = 1;
  writeWithManifest(out, { ...parts, header }, Buffer.from(JSON.stringify(m)), KEY, codec);
  const err = throwsCorrupt(t, () => openAndVerify(out, codec, KEY, { job: 'fixture', sequence: 2 }), 'base');
  t.regex(err.message, /fixture-00000001, of format 2, whose blocks are hashed differently/);
});

test('New images are written in the current format and read back with every codec.', async (t) => {
  const { all } = await codecs();
  for (const writerCodec of all) {
    const file = path.join(tmp.dir(), '00000001.crimg');
    await writeImage(file, { codec: writerCodec, key: KEY, blockSize: 4 * KiB }, fixtureInputs(), header('fixture', 1));
    t.is(splitImage(file).header.readUInt32LE(8), FORMAT_VERSION);
    for (const codec of all) {
      withReader(file, codec, KEY, (r) => {
        t.is(r.manifest.format, FORMAT_VERSION);
        assertSectionsEqual(t, r, fixtureInputs(), `${writerCodec.name} → ${codec.name}`);
      });
    }
  }
});

test('A format-1 image that claims a plane-coded block is refused as corrupt.', async (t) => {
  const { main: codec } = await codecs();
  const out = path.join(tmp.dir(), '00000001.crimg');
  rewriteManifest(FIXTURE, out, KEY, codec, (m) => {
    m.sections[2].blocks[0][3] = BLOCK_FLAG_PLANES;
  });
  const err = throwsCorrupt(t, () => openAndVerify(out, codec, KEY), 'manifest');
  t.regex(err.message, /invalid flags/);
  t.true(fs.existsSync(out));
});
