// Format versions (src/image/format.ts): images of format 1 stay readable after format 2 added
// plane-coded blocks. The fixture was written by the format-1 writer (cr before plane coding)
// with the inputs rebuilt below and the key 32 × 0x5a.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BLOCK_FLAG_PLANES, FORMAT_VERSION } from '../../src/image/format.js';
import type { SectionInput } from '../../src/image/sections.js';
import { assertSectionsEqual, codecs, header, noise, region, rewriteManifest, smoothBytes, splitImage, tempRoot, throwsCorrupt, withReader, writeImage, openAndVerify, KiB } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// ava runs the compiled copy under dist/; the fixture stays in the source tree.
const FIXTURE = path.resolve(here, '../../../test/fixtures/images/format-1/00000001.crimg');
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

test('An image of format 1 reads back intact with every codec.', async (t) => {
  t.is(splitImage(FIXTURE).header.readUInt32LE(8), 1, 'the fixture is a format-1 image');
  const { all } = await codecs();
  for (const codec of all) {
    withReader(FIXTURE, codec, KEY, (r) => {
      t.is(r.manifest.format, 1);
      r.verifyFull();
      assertSectionsEqual(t, r, fixtureInputs(), codec.name);
    }, { job: 'fixture', sequence: 1 });
  }
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
