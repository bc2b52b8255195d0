// ImageWriter: what it writes must read back byte for byte with either codec, match
// docs/image-format.md field by field, and be written in bounded memory.
import test from 'ava';
import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import {
  BLOCK_FLAG_PLANES,
  FORMAT_VERSION,
  BLOCK_FLAG_SHUFFLE,
  BLOCK_FLAG_ZSTD,
  FOOTER_LENGTH,
  FOOTER_MAGIC,
  HEADER_LENGTH,
  HEADER_MAGIC,
  REGION_TYPES,
  hashToHex,
  zstdBound,
} from '../../src/image/format.js';
import { ImageReader } from '../../src/image/reader.js';
import type { SectionInput } from '../../src/image/sections.js';
import { imageTag } from '../../src/image/writer.js';
import {
  KiB,
  MiB,
  assertSectionsEqual,
  codecs,
  equalBytes,
  header,
  makeWriter,
  newKey,
  noise,
  region,
  regionOfEveryType,
  smallInputs,
  smoothBytes,
  splitImage,
  tempRoot,
  withReader,
  writeImage,
} from './helpers.js';

const tmp = tempRoot('writer');
test.after.always(() => tmp.cleanup());

/** A state's v8 bytes and buffers (one empty, one with a tail shorter than its element), a region of every type, an empty region. */
function mixedInputs(seed: number): SectionInput[] {
  return [
    { kind: 'state', role: 'v8', name: 'progress', data: noise(777, seed) },
    { kind: 'state', role: 'buffer', name: 'progress', index: 0, elementSize: 8, data: smoothBytes(20 * KiB + 13, seed + 1) },
    { kind: 'state', role: 'buffer', name: 'progress', index: 1, elementSize: 2, data: new Uint8Array(0) },
    { kind: 'state', role: 'buffer', name: 'progress', index: 2, elementSize: 4, data: noise(1, seed + 2) },
    { kind: 'state', role: 'v8', name: 'config', data: new TextEncoder().encode('{"a":1}') },
    ...regionOfEveryType(seed + 10),
    region('empty', 'Float32Array', new Uint8Array(0)),
    region('one', 'BigInt64Array', noise(8, seed + 20)),
  ];
}

test('An image with states, buffers and a region of every type reads back byte for byte with every codec pairing.', async (t) => {
  const { all } = await codecs();
  const key = newKey();
  const inputs = mixedInputs(1);
  for (const blockSize of [MiB, 4 * KiB]) {
    for (const writerCodec of all) {
      const file = path.join(tmp.dir(), 'mixed.crimg');
      await writeImage(file, { codec: writerCodec, key, blockSize, batchBlocks: 3 }, inputs);
      for (const readerCodec of all) {
        const what = `blocks of ${blockSize}, written by ${writerCodec.name}, read by ${readerCodec.name}`;
        withReader(file, readerCodec, key, (r) => {
          r.verifyStored();
          r.verifyFull();
          assertSectionsEqual(t, r, inputs, what);
        });
      }
    }
  }
  // Every region type is in the image.
  t.is(inputs.filter((s) => s.kind === 'region').length, Object.keys(REGION_TYPES).length + 2);
});

test('A 3.5 MiB region in 1 MiB blocks is stored as four blocks, the last one half full.', async (t) => {
  const { main: codec } = await codecs();
  const key = newKey();
  const data = smoothBytes(3.5 * MiB, 9);
  const file = path.join(tmp.dir(), 'big.crimg');
  await writeImage(file, { codec, key, blockSize: MiB, batchBlocks: 2 }, [region('grid', 'Float64Array', data)]);
  for (const batchBlocks of [1, 3, 16]) {
    const r = ImageReader.open(file, { codec, key, batchBlocks });
    try {
      const [section] = r.manifest.sections;
      t.deepEqual(
        section!.blocks.map((b) => b[2]),
        [MiB, MiB, MiB, MiB / 2],
      );
      r.verifyStored();
      r.verifyFull();
      t.true(equalBytes(r.readSection(section!), data), `batchBlocks ${batchBlocks}`);
    } finally {
      r.close();
    }
  }
});

test('A 3.5 MiB region in 4 KiB blocks is stored as 896 blocks and reads back with any batch size.', async (t) => {
  const { all } = await codecs();
  const key = newKey();
  const data = new Uint8Array(3.5 * MiB);
  data.set(smoothBytes(2 * MiB, 4));
  data.set(noise(1.5 * MiB, 5), 2 * MiB); // half compresses, half is stored raw
  for (const codec of all) {
    const file = path.join(tmp.dir(), 'many.crimg');
    const written = await writeImage(file, { codec, key, blockSize: 4 * KiB, batchBlocks: 7 }, [region('grid', 'Float64Array', data)]);
    const blocks = written.manifest.sections[0]!.blocks;
    t.is(blocks.length, 896);
    t.true(blocks.some((b) => b[3] === 0) && blocks.some((b) => b[3] !== 0), 'both raw and compressed blocks');
    for (const batchBlocks of [1, 5, 16, 1000]) {
      const r = ImageReader.open(file, { codec, key, batchBlocks });
      try {
        r.verifyStored();
        r.verifyFull();
        t.true(equalBytes(r.readSection(r.manifest.sections[0]!), data), `${codec.name}, batchBlocks ${batchBlocks}`);
      } finally {
        r.close();
      }
    }
  }
});

test('An image with no sections is valid and holds an empty section list.', async (t) => {
  const { main: codec } = await codecs();
  const key = newKey();
  const file = path.join(tmp.dir(), 'none.crimg');
  const written = await writeImage(file, { codec, key }, []);
  t.is(written.bytes, fs.statSync(file).size);
  t.is(written.rawBytes, 0);
  withReader(file, codec, key, (r) => {
    t.deepEqual(r.manifest.sections, []);
    r.verifyStored();
    r.verifyFull();
  });
});

test('The header, manifest and footer hold exactly the fields docs/image-format.md lists.', async (t) => {
  const { main: codec } = await codecs();
  const key = newKey();
  const file = path.join(tmp.dir(), 'fields.crimg');
  const inputs = smallInputs(3);
  const createdAt = new Date('2026-11-28T15:00:00.000Z');
  const written = await writeImage(file, { codec, key, blockSize: 4 * KiB, level: 3 }, inputs, {
    job: 'heat2d',
    sequence: 12,
    attempt: 2,
    createdAt,
    meta: { calls: 7, note: 'x' },
  });
  const parts = splitImage(file);

  // Header
  t.true(parts.header.subarray(0, 8).equals(HEADER_MAGIC));
  t.deepEqual([...parts.header.subarray(0, 8)], [0x43, 0x52, 0x49, 0x4d, 0x47, 0x0d, 0x0a, 0x1a]);
  t.is(parts.header.readUInt32LE(8), FORMAT_VERSION);
  t.is(parts.header.readUInt32LE(12), 0);

  // Footer
  const { footer } = parts;
  t.is(footer.length, FOOTER_LENGTH);
  t.is(parts.manifestOffset + parts.manifestBytes.length + FOOTER_LENGTH, parts.bytes.length);
  t.is(footer.readBigUInt64LE(16), codec.hash64(parts.manifestBytes));
  t.true(footer.subarray(24, 56).equals(imageTag(key, parts.header, footer, parts.manifestBytes)));
  t.deepEqual([...footer.subarray(56, 64)], [0x43, 0x52, 0x45, 0x4e, 0x44, 0x0d, 0x0a, 0x1a]);
  t.true(footer.subarray(56).equals(FOOTER_MAGIC));
  t.is(written.bytes, parts.bytes.length);
  t.is(written.rawBytes, inputs.reduce((n, s) => n + s.data.length, 0));

  // Manifest: the JSON on disk is the manifest the writer returned.
  const m = parts.manifest;
  t.deepEqual(m, written.manifest);
  t.deepEqual(Object.keys(m).sort(), [
    'attempt', 'bases', 'blockSize', 'codec', 'createdAt', 'format', 'id', 'identity', 'job', 'level', 'meta', 'parent', 'sections', 'sequence', 'writer',
  ]);
  t.like(m, {
    format: FORMAT_VERSION,
    id: 'heat2d-00000012',
    job: 'heat2d',
    sequence: 12,
    parent: null,
    bases: [],
    attempt: 2,
    createdAt: '2026-11-28T15:00:00.000Z',
    codec: 'zstd',
    level: 3,
    blockSize: 4 * KiB,
    writer: 'cr test',
    meta: { calls: 7, note: 'x' },
    identity: null,
  });
  t.deepEqual(
    m.sections.map((s) => [s.kind, s.name, s.kind === 'state' ? s.role : s.type, s.elementSize, s.length]),
    [
      ['state', 'progress', 'v8', 1, 300],
      ['state', 'progress', 'buffer', 8, 6 * KiB],
      ['state', 'progress', 'buffer', 1, 100],
      ['region', 'grid', 'Float64Array', 8, 9 * KiB],
      ['region', 'mask', 'Uint8Array', 1, 5 * KiB],
    ],
  );
  t.deepEqual(
    m.sections.filter((s) => s.kind === 'state' && s.role === 'buffer').map((s) => (s as { index: number }).index),
    [0, 1],
  );

  // Blocks: back to back from the header to the manifest, in section order; tuples as specified.
  let expectedOffset = HEADER_LENGTH;
  for (const [si, section] of m.sections.entries()) {
    const input = inputs[si]!.data;
    t.is(section.blocks.length, Math.ceil(section.length / m.blockSize));
    for (const [bi, block] of section.blocks.entries()) {
      const [offset, stored, rawLength, flags, storedHash, rawHash] = block;
      const at = `section ${si} block ${bi}`;
      t.is(block.length, 6, at);
      t.is(offset, expectedOffset, at);
      t.is(rawLength, Math.min(m.blockSize, section.length - bi * m.blockSize), at);
      t.regex(storedHash, /^[0-9a-f]{16}$/, at);
      t.regex(rawHash, /^[0-9a-f]{16}$/, at);
      const raw = input.subarray(bi * m.blockSize, bi * m.blockSize + rawLength);
      const storedBytes = parts.bytes.subarray(offset, offset + stored);
      t.is(rawHash, hashToHex(codec.blockHash(raw, 'xxh3')), at);
      t.is(storedHash, hashToHex(codec.blockHash(storedBytes, 'xxh3')), at);
      t.true(stored <= zstdBound(m.blockSize), at);
      if (flags === 0) {
        t.is(stored, rawLength, at);
        t.true(equalBytes(storedBytes, raw), `${at}: a raw block holds the unshuffled bytes`);
      } else {
        t.true(stored < rawLength, `${at}: a compressed block is smaller than its raw bytes`);
        if (flags === BLOCK_FLAG_PLANES) {
          t.is(storedBytes[1], section.elementSize, `${at}: a plane-coded block names its element size`);
        } else {
          t.true(flags === BLOCK_FLAG_ZSTD || flags === (BLOCK_FLAG_ZSTD | BLOCK_FLAG_SHUFFLE), at);
          t.is(storedBytes.readUInt32LE(0), 0xfd2fb528, `${at}: a zstd frame`);
          t.is((flags & BLOCK_FLAG_SHUFFLE) !== 0, section.elementSize > 1, `${at}: shuffled exactly when elementSize > 1`);
        }
      }
      expectedOffset += stored;
    }
  }
  t.is(expectedOffset, parts.manifestOffset);
  // The smooth float field compresses (shuffled), the noise does not.
  const coded = codec.name === 'native' ? BLOCK_FLAG_PLANES : BLOCK_FLAG_ZSTD | BLOCK_FLAG_SHUFFLE;
  t.true(m.sections[3]!.blocks.every((b) => b[3] === coded));
  t.true(m.sections[4]!.blocks.every((b) => b[3] === 0));
});

test('Zeros with elementSize 1 are stored as unshuffled zstd frames.', async (t) => {
  const { main: codec } = await codecs();
  const key = newKey();
  const file = path.join(tmp.dir(), 'zeros.crimg');
  const written = await writeImage(file, { codec, key, blockSize: 4 * KiB }, [region('z', 'Uint8Array', new Uint8Array(10 * KiB))]);
  t.deepEqual(
    written.manifest.sections[0]!.blocks.map((b) => b[3]),
    [BLOCK_FLAG_ZSTD, BLOCK_FLAG_ZSTD, BLOCK_FLAG_ZSTD],
  );
  withReader(file, codec, key, (r) => t.true(r.readSection(r.manifest.sections[0]!).every((b) => b === 0)));
});

test('One writer writes several images in turn, each readable on its own.', async (t) => {
  const { main: codec } = await codecs();
  const key = newKey();
  const writer = makeWriter({ codec, key, blockSize: 4 * KiB, batchBlocks: 2 });
  const dir = tmp.dir();
  const images = [1, 2, 3].map((seq) => ({ seq, file: path.join(dir, `${seq}.crimg`), inputs: smallInputs(seq * 10) }));
  for (const { seq, file, inputs } of images) await writeImage(file, { codec, key }, inputs, header('job', seq), writer);
  for (const { seq, file, inputs } of images) {
    withReader(file, codec, key, (r) => {
      t.is(r.manifest.sequence, seq);
      r.verifyFull();
      assertSectionsEqual(t, r, inputs, `image ${seq}`);
    }, { job: 'job', sequence: seq });
  }
});

/** A FileHandle whose writev misbehaves as `behave` says, else writes through. */
function fakeHandle(real: FileHandle, behave: (call: number, buffers: Uint8Array[], position: number) => Promise<{ bytesWritten: number; buffers: Uint8Array[] } | null>): FileHandle {
  let call = 0;
  return {
    writev: async (buffers: Uint8Array[], position: number) => (await behave(++call, buffers, position)) ?? real.writev(buffers, position),
  } as unknown as FileHandle;
}

test('Short writes are retried until every byte is on disk.', async (t) => {
  const { main: codec } = await codecs();
  const key = newKey();
  const file = path.join(tmp.dir(), 'short.crimg');
  const inputs = smallInputs(4);
  const real = await fsp.open(file, 'w');
  let calls = 0;
  try {
    // At most 1000 bytes per call, cutting buffers anywhere.
    const handle = fakeHandle(real, async (_call, buffers, position) => {
      calls++;
      const all = Buffer.concat(buffers);
      const n = Math.min(all.length, 1000);
      await real.write(all, 0, n, position);
      return { bytesWritten: n, buffers };
    });
    await makeWriter({ codec, key, blockSize: 4 * KiB }).write(handle, header(), inputs);
  } finally {
    await real.close();
  }
  // No call wrote more than 1000 bytes, so every byte of the file is there only if short writes were retried.
  const size = fs.statSync(file).size;
  t.true(size > 5000 && calls >= Math.ceil(size / 1000), `${calls} calls for ${size} bytes`);
  withReader(file, codec, key, (r) => {
    r.verifyFull();
    assertSectionsEqual(t, r, inputs);
  });
});

test('A write that makes no progress rejects instead of looping forever.', async (t) => {
  const { main: codec } = await codecs();
  const real = await fsp.open(path.join(tmp.dir(), 'stuck.crimg'), 'w');
  try {
    const handle = fakeHandle(real, async (call, buffers) => (call >= 2 ? { bytesWritten: 0, buffers } : null));
    await t.throwsAsync(makeWriter({ codec, key: newKey(), blockSize: 4 * KiB }).write(handle, header(), smallInputs(5)), {
      instanceOf: Error,
      message: /no progress/,
    });
  } finally {
    await real.close();
  }
});

test('A write that fails midway rejects with the I/O error, and the writer then writes a good image.', async (t) => {
  const { all } = await codecs();
  const key = newKey();
  for (const codec of all) {
    const writer = makeWriter({ codec, key, blockSize: 4 * KiB, batchBlocks: 2 });
    const inputs = [region('grid', 'Float64Array', smoothBytes(64 * KiB, 6)), region('mask', 'Uint8Array', noise(40 * KiB, 7))];
    const dir = tmp.dir();
    const real = await fsp.open(path.join(dir, 'failed.crimg'), 'w');
    try {
      // Call 1 is the header, 2 the first batch; the third fails while the next batch is encoding.
      const handle = fakeHandle(real, async (call) => {
        if (call === 3) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        return null;
      });
      const err = await t.throwsAsync(writer.write(handle, header(), inputs));
      t.is((err as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      await real.close();
    }
    const good = path.join(dir, 'good.crimg');
    await writeImage(good, { codec, key }, inputs, header('job', 2), writer);
    withReader(good, codec, key, (r) => {
      r.verifyFull();
      assertSectionsEqual(t, r, inputs, codec.name);
    });
  }
});

// The writer does not check its settings against the format: it writes images its own reader
// refuses (a negative zstd level, a block size that is not a power of two from 4 KiB to 1 MiB).
// A checkpoint that can never be restored should be refused when written, not when read.
test('The writer never writes an image its reader refuses: out-of-format levels and block sizes are refused up front.', async (t) => {
  const { main: codec } = await codecs();
  const key = newKey();
  const inputs = [region('g', 'Uint8Array', new Uint8Array(10_000))];
  for (const [level, blockSize] of [[-1, 4 * KiB], [1, 1000], [1, 12 * KiB]] as const) {
    const file = path.join(tmp.dir(), 'settings.crimg');
    let writtenOk = false;
    try {
      await writeImage(file, { codec, key, level, blockSize }, inputs);
      writtenOk = true;
    } catch (err) {
      t.true(err instanceof RangeError, `level ${level}, blockSize ${blockSize}: ${String(err)}`);
    }
    if (writtenOk) {
      t.notThrows(() => withReader(file, codec, key, (r) => r.verifyFull()), `level ${level}, blockSize ${blockSize}: written but unreadable`);
    }
  }
});

test.serial('Writing a 256 MiB region grows the process by less than 64 MiB beyond the region itself.', async (t) => {
  const { main: codec } = await codecs();
  const key = newKey();
  const size = 256 * MiB;
  // A smooth field, varied per MiB so that blocks differ; every page is touched before measuring.
  const data = new Uint8Array(size);
  const pattern = smoothBytes(MiB, 11);
  for (let at = 0; at < size; at += MiB) {
    data.set(pattern, at);
    data[at + (at / MiB) * 8] = at / MiB;
  }
  const file = path.join(tmp.dir(), 'huge.crimg');
  // Warm the codec first: the portable codec's WebAssembly heap is the process's, not the writer's.
  await writeImage(path.join(tmp.dir(), 'warm.crimg'), { codec, key, blockSize: MiB, batchBlocks: 1 }, [region('w', 'Float64Array', data.subarray(0, 2 * MiB))]);
  const handle = await fsp.open(file, 'w');
  const before = process.memoryUsage.rss();
  let peak = before;
  const sample = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 5);
  try {
    const writer = makeWriter({ codec, key, blockSize: MiB, batchBlocks: 8 });
    const written = await writer.write(handle, header(), [region('grid', 'Float64Array', data)]);
    peak = Math.max(peak, process.memoryUsage.rss());
    t.is(written.rawBytes, size);
  } finally {
    clearInterval(sample);
    await handle.close();
  }
  const growth = peak - before;
  t.log(`${codec.name} codec: peak RSS growth ${(growth / MiB).toFixed(1)} MiB while writing ${size / MiB} MiB`);
  t.true(growth < 64 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
  withReader(file, codec, key, (r) => {
    t.is(r.manifest.sections[0]!.blocks.length, 256);
    r.verifyStored();
  });
  fs.rmSync(file);
});
