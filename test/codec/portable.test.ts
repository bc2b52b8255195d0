import test from 'ava';
import { BLOCK_FLAG_ZSTD } from '../../src/native/binding.js';
import {
  getCodec,
  getPortableCodec,
  MAX_BLOCK_SIZE,
  PORTABLE_MAX_LEVEL,
  zstdCompressBound,
  zstdFrameContentSize,
} from '../../src/codec/index.js';
import { buildFrame, randomBytes, rleFrame, singleBlockRequest, guardsIntact } from './helpers.js';
import { registerCodecSuite } from './suite.js';

registerCodecSuite('portable', getPortableCodec, null);

test('getCodec returns the one portable codec when asked to prefer it.', async (t) => {
  const a = await getCodec({ prefer: 'portable' });
  const b = await getPortableCodec();
  t.is(a, b);
  t.is(a.name, 'portable');
  t.true(a.description.includes(`${PORTABLE_MAX_LEVEL}`));
  await t.throwsAsync(getCodec({ prefer: 'fast' as 'native' }), { instanceOf: RangeError });
});

test('zstdCompressBound follows ZSTD_COMPRESSBOUND.', (t) => {
  t.is(zstdCompressBound(0), 64);
  t.is(zstdCompressBound(4096), 4096 + 16 + 62);
  t.is(zstdCompressBound(128 * 1024), 128 * 1024 + 512);
  t.is(zstdCompressBound(MAX_BLOCK_SIZE), MAX_BLOCK_SIZE + 4096);
  t.is(zstdCompressBound(2 ** 33), 2 ** 33 + 2 ** 25);
  t.throws(() => zstdCompressBound(-1), { instanceOf: RangeError });
  t.throws(() => zstdCompressBound(0.5), { instanceOf: RangeError });
});

test('zstdFrameContentSize reads the content size of exactly one well-formed frame.', (t) => {
  t.is(zstdFrameContentSize(rleFrame(5000, 1)), 5000);
  t.is(zstdFrameContentSize(rleFrame(300, 1, { fcsBytes: 2 })), 300);
  t.is(zstdFrameContentSize(rleFrame(200, 1, { fcsBytes: 1, singleSegment: true })), 200);
  t.is(zstdFrameContentSize(rleFrame(200, 1, { fcsBytes: 8, checksum: Uint8Array.of(1, 2, 3, 4) })), 200);
  t.is(zstdFrameContentSize(rleFrame(200, 1, { contentSize: 2 ** 40, fcsBytes: 8 })), 2 ** 40);
  t.is(zstdFrameContentSize(rleFrame(200, 1, { contentSize: null })), null);
  t.is(zstdFrameContentSize(rleFrame(200, 1, { checksum: Uint8Array.of(1, 2, 3) })), null);
  t.is(zstdFrameContentSize(rleFrame(200, 1, { trailing: Uint8Array.of(0) })), null);
  // A block larger than the window the frame declares.
  t.is(zstdFrameContentSize(rleFrame(2048, 1, { windowDescriptor: 0x00 })), null);
  t.is(zstdFrameContentSize(randomBytes(100)), null);
  t.is(zstdFrameContentSize(new Uint8Array(0)), null);
});

test('The portable codec refuses a frame that does not record its content size.', async (t) => {
  const codec = await getPortableCodec();
  const bytes = randomBytes(1000, 8);
  const frame = buildFrame({ contentSize: null, windowDescriptor: 0x00, blocks: [{ type: 0, size: 1000, content: bytes }] });
  const r = singleBlockRequest(frame, 1000, BLOCK_FLAG_ZSTD, codec.blockHash(frame, 'xxh3'), codec.blockHash(bytes, 'xxh3'));
  t.deepEqual(codec.decode(r), { index: 0, reason: 'decompress' });
  t.true(guardsIntact(r, 1000));
});

test('The portable codec keeps working after hostile frames.', async (t) => {
  const codec = await getPortableCodec();
  for (let i = 0; i < 50; i++) {
    const frame = rleFrame(4096, 0, { contentSize: 2 ** 31 + i });
    codec.decode(singleBlockRequest(frame, 4096, BLOCK_FLAG_ZSTD, codec.blockHash(frame, 'xxh3'), 0n));
  }
  const good = rleFrame(4096, 3);
  const expected = new Uint8Array(4096).fill(3);
  const r = singleBlockRequest(good, 4096, BLOCK_FLAG_ZSTD, codec.blockHash(good, 'xxh3'), codec.blockHash(expected, 'xxh3'));
  t.is(codec.decode(r), null);
});
