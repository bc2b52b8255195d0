// ImageReader: good images open and verify; every damaged, truncated, foreign or hostile file is
// refused with the typed error docs/image-format.md ("What a reader checks") gives, never a crash.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import type { BlockCodec } from '../../src/codec/index.js';
import { ImageAuthError, ImageCorruptError, ImageVersionError } from '../../src/errors.js';
import { FOOTER_LENGTH, FOOTER_MAGIC, HEADER_LENGTH, hashToHex, zstdBound } from '../../src/image/format.js';
import { ImageReader } from '../../src/image/reader.js';
import type { SectionInput } from '../../src/image/sections.js';
import {
  KiB,
  assertSectionsEqual,
  codecs,
  equalBytes,
  flipBit,
  header,
  newKey,
  noise,
  openAndVerify,
  region,
  rewriteManifest,
  smallInputs,
  splitImage,
  tempRoot,
  throwsAuth,
  throwsCorrupt,
  throwsVersion,
  withReader,
  writeImage,
  writeWithManifest,
  type ImageParts,
} from './helpers.js';

const tmp = tempRoot('reader');
test.after.always(() => tmp.cleanup());

interface Fixture {
  codec: BlockCodec;
  key: Buffer;
  file: string;
  inputs: SectionInput[];
  parts: ImageParts;
}

let fixture: Fixture;

// One small image (blocks of 4 KiB: several per section, compressed and raw) that the damage tests
// copy and alter. Sections: 0 v8 (raw), 1 buffer (shuffled zstd), 2 buffer (raw), 3 region grid
// Float64Array (shuffled zstd), 4 region mask Uint8Array (raw).
test.before(async () => {
  const { main: codec } = await codecs();
  const key = newKey();
  const file = path.join(tmp.dir('fixture'), 'job-1.crimg');
  const inputs = smallInputs(1);
  await writeImage(file, { codec, key, blockSize: 4 * KiB, batchBlocks: 2 }, inputs, header('job', 1));
  fixture = { codec, key, file, inputs, parts: splitImage(file) };
});

function scratch(name = 'x.crimg'): string {
  return path.join(tmp.dir(), name);
}

/** A copy of the fixture's bytes, altered by `edit`, written to a new file. */
function alteredCopy(edit: (bytes: Buffer) => Buffer | void): string {
  const bytes = Buffer.from(fixture.parts.bytes);
  const out = scratch();
  fs.writeFileSync(out, edit(bytes) ?? bytes);
  return out;
}

// --- good images -----------------------------------------------------------------------------

test('A good image opens authenticated, passes verifyStored and verifyFull, and reads back.', (t) => {
  const { codec, key, file, inputs } = fixture;
  withReader(file, codec, key, (r) => {
    t.true(r.authenticated);
    t.is(r.size, fs.statSync(file).size);
    t.is(r.file, file);
    t.notThrows(() => r.verifyStored());
    t.notThrows(() => r.verifyFull());
    assertSectionsEqual(t, r, inputs);
  }, { job: 'job', sequence: 1 });
});

test('Without a key an image opens unauthenticated and still checks its manifest hash.', (t) => {
  const { codec, file, inputs } = fixture;
  withReader(file, codec, null, (r) => {
    t.false(r.authenticated);
    r.verifyFull();
    assertSectionsEqual(t, r, inputs);
  });
  const damaged = alteredCopy((b) => {
    b[fixture.parts.manifestOffset + 5]! ^= 0x01;
  });
  throwsCorrupt(t, () => openAndVerify(damaged, codec, null), 'manifest-hash');
});

test('readSectionInto decodes into a destination of the section\'s size and refuses any other size.', (t) => {
  const { codec, key, file, inputs } = fixture;
  withReader(file, codec, key, (r) => {
    const section = r.manifest.sections[3]!;
    const exact = new Uint8Array(section.length);
    r.readSectionInto(section, exact);
    t.true(equalBytes(exact, inputs[3]!.data));
    for (const size of [0, section.length - 1, section.length + 1, section.length * 2]) {
      const dst = new Uint8Array(size).fill(0xa5);
      const err = t.throws(() => r.readSectionInto(section, dst), { instanceOf: RangeError });
      t.regex(err.message, /section "grid" holds 9216 bytes, the destination \d+/);
      t.true(dst.every((b) => b === 0xa5), `a destination of ${size} bytes is left untouched`);
    }
  });
});

test('A missing file is reported as the file system reports it, not as a damaged image.', (t) => {
  const err = t.throws(() => ImageReader.open(scratch('missing.crimg'), { codec: fixture.codec, key: fixture.key }));
  t.is((err as NodeJS.ErrnoException).code, 'ENOENT');
});

// --- expectations ----------------------------------------------------------------------------

test('An image of job A read as job B, or under another sequence number, is refused as a mismatch.', (t) => {
  const { codec, key, file } = fixture;
  let err = throwsCorrupt(t, () => openAndVerify(file, codec, key, { job: 'B' }), 'mismatch');
  t.regex(err.message, /belongs to job "job", not "B"/);
  err = throwsCorrupt(t, () => openAndVerify(file, codec, key, { job: 'job', sequence: 2 }), 'mismatch');
  t.regex(err.message, /number 1, its file name says 2/);
  t.notThrows(() => openAndVerify(file, codec, key, { job: 'job', sequence: 1 }));
});

test('An image read with another key is refused as ImageAuthError.', (t) => {
  const err = throwsAuth(t, () => openAndVerify(fixture.file, fixture.codec, newKey()));
  t.regex(err.message, /another key, or altered/);
  t.is(err.file, fixture.file);
});

// --- empty, truncated, foreign ---------------------------------------------------------------

test('An empty file is refused as empty.', (t) => {
  const file = scratch();
  fs.writeFileSync(file, '');
  throwsCorrupt(t, () => openAndVerify(file, fixture.codec, fixture.key), 'empty');
});

test('An image cut short at any point is refused as truncated or as a bad footer.', (t) => {
  const { bytes, manifestOffset, manifestBytes } = fixture.parts;
  const size = bytes.length;
  const cuts = [
    8, 12, 15,
    HEADER_LENGTH, // header only
    HEADER_LENGTH + 1, 40, 79, 80,
    HEADER_LENGTH + 2000, // inside the first blocks
    HEADER_LENGTH + 4 * KiB + 77,
    manifestOffset - 1,
    manifestOffset, // every block, no manifest
    manifestOffset + 1,
    manifestOffset + Math.floor(manifestBytes.length / 2), // mid-manifest
    size - FOOTER_LENGTH, // no footer
    size - FOOTER_LENGTH + 8,
    size - 9,
    size - 8, // no footer magic
    size - 1, // one footer byte missing
  ];
  for (const cut of cuts) {
    const file = scratch();
    fs.writeFileSync(file, bytes.subarray(0, cut));
    throwsCorrupt(t, () => openAndVerify(file, fixture.codec, fixture.key), ['truncated', 'footer'], `cut at ${cut} of ${size}`);
  }
});

// docs/image-format.md, "What a reader checks", step 1: a file under 80 bytes is "empty" or
// "truncated", even when it ends inside the magic number.
test('An image cut inside its magic number is refused as truncated, as the spec\'s first check says.', (t) => {
  for (let cut = 1; cut < 8; cut++) {
    const file = scratch();
    fs.writeFileSync(file, fixture.parts.bytes.subarray(0, cut));
    throwsCorrupt(t, () => openAndVerify(file, fixture.codec, fixture.key), 'truncated', `cut at ${cut}`);
  }
});

test('An image with bytes appended is refused, and so are two images back to back.', (t) => {
  const { bytes } = fixture.parts;
  const appended = scratch();
  fs.writeFileSync(appended, Buffer.concat([bytes, Buffer.from('\n')]));
  throwsCorrupt(t, () => openAndVerify(appended, fixture.codec, fixture.key), ['truncated', 'footer']);
  // The last footer is intact but describes only the second half of the file.
  const twice = scratch();
  fs.writeFileSync(twice, Buffer.concat([bytes, bytes]));
  throwsCorrupt(t, () => openAndVerify(twice, fixture.codec, fixture.key), 'footer');
});

test('Foreign files are refused as foreign: text, random bytes, a PNG, an image whose line ends were rewritten.', (t) => {
  const passwd = Buffer.from(
    'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n' +
      'bin:x:2:2:bin:/bin:/usr/sbin/nologin\nsys:x:3:3:sys:/dev:/usr/sbin/nologin\n',
  );
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), noise(500, 3)]);
  // A text-mode transfer turning CRLF into LF: the magic's \r\n is what catches it.
  const textMode = Buffer.from(fixture.parts.bytes.toString('latin1').replaceAll('\r\n', '\n'), 'latin1');
  t.not(textMode.length, fixture.parts.bytes.length);
  const cases: [string, Uint8Array][] = [
    ['/etc/passwd-like text', passwd],
    ['random bytes', noise(4096, 99)],
    ['a PNG', png],
    ['a CRLF → LF transfer of an image', textMode],
    ['the footer magic at the start', Buffer.concat([FOOTER_MAGIC, noise(200, 4)])],
    ['a short text', Buffer.from('hello, world\n')],
  ];
  for (const [what, bytes] of cases) {
    const file = scratch();
    fs.writeFileSync(file, bytes);
    const err = throwsCorrupt(t, () => openAndVerify(file, fixture.codec, fixture.key), 'foreign', what);
    t.regex(err.message, /not a cr checkpoint image/, what);
  }
});

// --- header ----------------------------------------------------------------------------------

test('An image with another format version is refused with ImageVersionError naming the version.', (t) => {
  for (const version of [0, 4, 0xffffffff]) {
    const file = alteredCopy((b) => {
      b.writeUInt32LE(version, 8);
    });
    // With or without a key: the version is checked before anything it could change the meaning of.
    for (const key of [fixture.key, null]) {
      const err = throwsVersion(t, () => openAndVerify(file, fixture.codec, key), version);
      t.regex(err.message, new RegExp(`version ${version} is not supported \\(this cr reads versions 1 to 3\\)`));
      t.regex(err.message, version > 3 ? /newer cr/ : /older/);
    }
  }
});

test('An image with header flags other than 0 is refused.', (t) => {
  for (const flags of [1, 0x80000000]) {
    const file = alteredCopy((b) => {
      b.writeUInt32LE(flags, 12);
    });
    const err = throwsCorrupt(t, () => openAndVerify(file, fixture.codec, fixture.key), 'manifest');
    t.regex(err.message, /unknown header flags/);
  }
});

test('A flipped bit in the header magic is refused as foreign.', (t) => {
  for (const bit of [0, 13, 63]) {
    const file = scratch();
    flipBit(fixture.file, file, bit);
    throwsCorrupt(t, () => openAndVerify(file, fixture.codec, fixture.key), 'foreign', `bit ${bit}`);
  }
});

// --- footer ----------------------------------------------------------------------------------

function footerBit(byte: number, bit: number): number {
  return (fixture.parts.bytes.length - FOOTER_LENGTH + byte) * 8 + bit;
}

test('A flipped bit in the footer\'s manifest offset or length is refused as a bad footer.', (t) => {
  for (const byte of [0, 1, 3, 7, 8, 9, 12, 15]) {
    for (const bit of [0, 5, 7]) {
      const file = scratch();
      flipBit(fixture.file, file, footerBit(byte, bit));
      throwsCorrupt(t, () => openAndVerify(file, fixture.codec, fixture.key), 'footer', `footer byte ${byte} bit ${bit}`);
    }
  }
});

test('A flipped bit in the footer\'s manifest hash is refused as manifest-hash.', (t) => {
  for (const byte of [16, 19, 23]) {
    const file = scratch();
    flipBit(fixture.file, file, footerBit(byte, 2));
    throwsCorrupt(t, () => openAndVerify(file, fixture.codec, fixture.key), 'manifest-hash', `footer byte ${byte}`);
  }
});

test('A flipped bit in the tag is refused as ImageAuthError; without a key the image still reads.', (t) => {
  for (const byte of [24, 40, 55]) {
    const file = scratch();
    flipBit(fixture.file, file, footerBit(byte, 6));
    throwsAuth(t, () => openAndVerify(file, fixture.codec, fixture.key), `footer byte ${byte}`);
    withReader(file, fixture.codec, null, (r) => {
      r.verifyFull();
      assertSectionsEqual(t, r, fixture.inputs);
    });
  }
});

test('A flipped bit in the footer magic is refused as truncated.', (t) => {
  for (const byte of [56, 63]) {
    const file = scratch();
    flipBit(fixture.file, file, footerBit(byte, 1));
    throwsCorrupt(t, () => openAndVerify(file, fixture.codec, fixture.key), 'truncated', `footer byte ${byte}`);
  }
});

test('Footer offsets that point into the header, overflow 64 bits or announce a manifest over 64 MiB are refused.', (t) => {
  const { bytes, manifestOffset, manifestBytes } = fixture.parts;
  const size = bytes.length;
  const cases: [string, bigint, bigint][] = [
    ['a manifest at offset 0', 0n, BigInt(size - FOOTER_LENGTH)],
    ['a manifest inside the header', 15n, BigInt(size - FOOTER_LENGTH - 15)],
    ['an offset near 2^64', 2n ** 64n - 1n, BigInt(manifestBytes.length)],
    ['a length near 2^64', BigInt(manifestOffset), 2n ** 64n - 1n],
    ['offset and length that wrap around 2^64 to the file size', 2n ** 63n, 2n ** 63n + BigInt(size - FOOTER_LENGTH)],
  ];
  for (const [what, offset, length] of cases) {
    const file = alteredCopy((b) => {
      b.writeBigUInt64LE(offset, size - FOOTER_LENGTH);
      b.writeBigUInt64LE(length, size - FOOTER_LENGTH + 8);
    });
    throwsCorrupt(t, () => openAndVerify(file, fixture.codec, fixture.key), 'footer', what);
  }

  // A sparse file whose footer consistently describes a 64 MiB + 1 manifest: refused unread.
  const big = scratch();
  const manifestLength = 64 * 1024 * 1024 + 1;
  const fd = fs.openSync(big, 'w');
  try {
    fs.writeSync(fd, fixture.parts.header, 0, HEADER_LENGTH, 0);
    const footer = Buffer.alloc(FOOTER_LENGTH);
    footer.writeBigUInt64LE(BigInt(HEADER_LENGTH), 0);
    footer.writeBigUInt64LE(BigInt(manifestLength), 8);
    FOOTER_MAGIC.copy(footer, 56);
    fs.writeSync(fd, footer, 0, FOOTER_LENGTH, HEADER_LENGTH + manifestLength);
  } finally {
    fs.closeSync(fd);
  }
  const rssBefore = process.memoryUsage.rss();
  throwsCorrupt(t, () => openAndVerify(big, fixture.codec, fixture.key), 'footer', 'a 64 MiB + 1 manifest');
  t.true(process.memoryUsage.rss() - rssBefore < 32 * 1024 * 1024, 'the manifest was not read');
});

// --- manifest --------------------------------------------------------------------------------

test('A flipped bit in the manifest is refused as manifest-hash.', (t) => {
  const { manifestOffset, manifestBytes } = fixture.parts;
  for (const at of [0, 1, 100, Math.floor(manifestBytes.length / 2), manifestBytes.length - 1]) {
    const file = scratch();
    flipBit(fixture.file, file, (manifestOffset + at) * 8 + (at % 8));
    throwsCorrupt(t, () => openAndVerify(file, fixture.codec, fixture.key), 'manifest-hash', `manifest byte ${at}`);
  }
});

type Mutation = (m: Record<string, any>) => unknown;

/** Cases of a manifest rewritten by someone holding the key: hash and tag are right, content hostile. */
function hostileManifests(): [string, Mutation, RegExp][] {
  const { manifestOffset } = fixture.parts;
  const bound = zstdBound(4 * KiB);
  const blk = (m: Record<string, any>, s: number, b: number): any[] => m.sections[s].blocks[b];
  const compressed = (m: Record<string, any>): any[] => m.sections[3].blocks[0]; // grid: compressed (flags 3, or 4 when plane-coded)
  return [
    // lengths
    ['a section length of 2^40', (m) => { m.sections[3].length = 2 ** 40; }, /section 3 has \d+ blocks, expected/],
    ['a section length beyond safe integers', (m) => { m.sections[3].length = 2 ** 53 + 8; }, /section 3 has an invalid length/],
    ['a negative section length', (m) => { m.sections[4].length = -8; }, /section 4 has an invalid length/],
    ['a fractional section length', (m) => { m.sections[4].length = 5119.5; }, /invalid length/],
    ['a section length as a string', (m) => { m.sections[4].length = '5120'; }, /invalid length/],
    ['a region length that is not a whole number of elements', (m) => { m.sections[3].length = 9 * KiB - 4; }, /does not fit Float64Array/],
    // block offsets and lengths
    ['a block at the manifest offset', (m) => { blk(m, 4, 0)[0] = manifestOffset; }, /block 0 lies outside the block area/],
    ['a block reaching one byte into the manifest', (m) => { blk(m, 4, 1)[0] += 1; }, /block 1 lies outside the block area/],
    ['a block far beyond the file', (m) => { blk(m, 4, 0)[0] = 2 ** 52; }, /lies outside the block area/],
    ['a block at offset 2^60', (m) => { blk(m, 4, 0)[0] = 2 ** 60; }, /invalid offset/],
    ['a block inside the header', (m) => { blk(m, 0, 0)[0] = 15; }, /block 0 has an invalid offset/],
    ['a block at offset 0', (m) => { blk(m, 0, 0)[0] = 0; }, /invalid offset/],
    ['a negative block offset', (m) => { blk(m, 0, 0)[0] = -16; }, /invalid offset/],
    ['a fractional block offset', (m) => { blk(m, 0, 0)[0] = 16.5; }, /invalid offset/],
    ['a block offset as a string', (m) => { blk(m, 0, 0)[0] = '16'; }, /invalid offset/],
    ['a stored length beyond the zstd bound of the block size', (m) => { compressed(m)[1] = bound + 1; }, /invalid stored length/],
    ['a huge stored length', (m) => { compressed(m)[1] = 2 ** 31; }, /invalid stored length/],
    ['a negative stored length', (m) => { compressed(m)[1] = -1; }, /invalid stored length/],
    ['a raw length that is not the block size', (m) => { blk(m, 3, 0)[2] = 4 * KiB - 1; }, /raw length 4095, expected 4096/],
    ['a last raw length that does not add up', (m) => { blk(m, 3, 2)[2] += 1; }, /block 2 has raw length/],
    ['a negative raw length', (m) => { blk(m, 3, 2)[2] = -1; }, /raw length -1/],
    // block counts
    ['a missing block', (m) => { m.sections[3].blocks.pop(); }, /section 3 has 2 blocks, expected 3/],
    ['an extra block', (m) => { m.sections[3].blocks.push([...blk(m, 3, 2)]); }, /section 3 has 4 blocks, expected 3/],
    ['no blocks for a non-empty section', (m) => { m.sections[0].blocks = []; }, /section 0 has 0 blocks, expected 1/],
    ['blocks that are not an array', (m) => { m.sections[0].blocks = { 0: blk(m, 0, 0) }; }, /blocks is not an array/],
    ['a block that is an 8-tuple', (m) => { blk(m, 0, 0).push(1, 2); }, /not a 6- or 7-tuple/],
    ['a block that refers to an image not among the bases', (m) => { blk(m, 0, 0).push(1); }, /not among the bases/],
    ['a block that is an object', (m) => { m.sections[0].blocks[0] = { offset: 16 }; }, /not a 6- or 7-tuple/],
    // flags
    ['flags 2 alone (shuffled, not compressed)', (m) => { compressed(m)[3] = 2; }, /invalid flags/],
    ['flags 5 (plane-coded and zstd)', (m) => { compressed(m)[3] = 5; }, /invalid flags/],
    ['flags 7', (m) => { compressed(m)[3] = 7; }, /invalid flags/],
    ['flags as a string', (m) => { compressed(m)[3] = '3'; }, /invalid flags/],
    ['a raw block whose stored length differs from its raw length', (m) => { compressed(m)[3] = 0; }, /stored raw but its lengths differ/],
    // hashes
    ['a stored hash that is not hex', (m) => { blk(m, 0, 0)[4] = 'zzzzzzzzzzzzzzzz'; }, /invalid stored hash/],
    ['a stored hash in upper case', (m) => { blk(m, 0, 0)[4] = blk(m, 0, 0)[4].toUpperCase().replace(/^[0-9]/, 'A'); }, /invalid stored hash/],
    ['a stored hash of 15 digits', (m) => { blk(m, 0, 0)[4] = blk(m, 0, 0)[4].slice(1); }, /invalid stored hash/],
    ['a stored hash of 17 digits', (m) => { blk(m, 0, 0)[4] = `0${blk(m, 0, 0)[4]}`; }, /invalid stored hash/],
    ['a stored hash as a number', (m) => { blk(m, 0, 0)[4] = 12345; }, /invalid stored hash/],
    ['a stored hash with a 0x prefix', (m) => { blk(m, 0, 0)[4] = `0x${blk(m, 0, 0)[4].slice(2)}`; }, /invalid stored hash/],
    ['a raw hash that is not hex', (m) => { blk(m, 3, 1)[5] = 'ghijklmnopqrstuv'; }, /invalid raw hash/],
    ['a raw hash of -1', (m) => { blk(m, 3, 1)[5] = '-000000000000001'; }, /invalid raw hash/],
    // sections
    ['an unknown region type', (m) => { m.sections[3].type = 'Float16Array'; }, /unknown region type/],
    ['the region type "__proto__"', (m) => { m.sections[3].type = '__proto__'; }, /unknown region type/],
    ['the region type "constructor"', (m) => { m.sections[3].type = 'constructor'; }, /unknown region type/],
    ['the region type "toString"', (m) => { m.sections[3].type = 'toString'; }, /unknown region type/],
    ['a region type that is not a string', (m) => { m.sections[3].type = 8; }, /unknown region type/],
    ['a region type that does not fit its element size', (m) => { m.sections[3].type = 'Float32Array'; }, /does not fit Float32Array/],
    ['an element size of 3', (m) => { m.sections[1].elementSize = 3; }, /invalid elementSize/],
    ['a v8 section with element size 8', (m) => { m.sections[0].elementSize = 8; }, /a v8 section has elementSize 1/],
    ['two regions with one name', (m) => { m.sections[4].name = 'grid'; }, /region "grid" appears twice/],
    ['two v8 sections of one state', (m) => { m.sections[2].role = 'v8'; m.sections[2].elementSize = 1; delete m.sections[2].index; }, /state "progress" appears twice/],
    ['a buffer section out of order', (m) => { m.sections[1].index = 1; }, /buffer 1 of state "progress" is out of order/],
    ['a buffer section index as a string', (m) => { m.sections[1].index = '0'; }, /out of order/],
    ['a buffer section of a state with no v8 section', (m) => { m.sections[1].name = 'other'; }, /state "other" is out of order/],
    ['an unknown role', (m) => { m.sections[0].role = 'json'; }, /unknown role/],
    ['an unknown kind', (m) => { m.sections[4].kind = 'code'; }, /unknown kind/],
    ['an empty name', (m) => { m.sections[4].name = ''; }, /invalid name/],
    ['a name of 257 characters', (m) => { m.sections[4].name = 'n'.repeat(257); }, /invalid name/],
    ['a name that is not a string', (m) => { m.sections[4].name = ['mask']; }, /invalid name/],
    ['a section that is null', (m) => { m.sections[2] = null; }, /section 2 is not an object/],
    ['a section that is an array', (m) => { m.sections[2] = [1]; }, /section 2 is not an object/],
    ['sections that are not an array', (m) => { m.sections = { 0: m.sections[0] }; }, /sections is not an array/],
    // top-level fields
    ['format 2 under a version-3 header', (m) => { m.format = 2; }, /format is 2, expected 3/],
    ['format as a string', (m) => { m.format = '2'; }, /format is "2"/],
    ['an invalid job name', (m) => { m.job = '../x'; m.id = '../x-00000001'; }, /job is not a valid job name/],
    ['an empty job name', (m) => { m.job = ''; }, /job is not a valid job name/],
    ['sequence 0', (m) => { m.sequence = 0; m.id = 'job-00000000'; }, /sequence is not a positive integer/],
    ['a fractional sequence', (m) => { m.sequence = 1.5; }, /sequence is not a positive integer/],
    ['an id of another image', (m) => { m.id = 'job-00000002'; }, /id does not match/],
    ['a parent that is not an older image of the job', (m) => { m.parent = 'job-00000000'; }, /parent is not an older image/],
    ['a parent of another job', (m) => { m.parent = 'other-00000001'; }, /parent is not an older image/],
    ['bases on a full image', (m) => { m.bases = [1]; }, /full image .* has no bases|bases must be/],
    ['bases that are not increasing', (m) => { m.sequence = 5; m.id = 'job-00000005'; m.parent = 'job-00000004'; m.bases = [2, 1]; }, /bases must be increasing/],
    ['a base that is not older', (m) => { m.sequence = 5; m.id = 'job-00000005'; m.parent = 'job-00000004'; m.bases = [5]; }, /bases must be increasing/],
    ['a negative attempt', (m) => { m.attempt = -1; }, /attempt is not an integer/],
    ['a createdAt that is not a date', (m) => { m.createdAt = 'yesterday'; }, /createdAt is not a date/],
    ['codec lz4', (m) => { m.codec = 'lz4'; }, /unknown codec "lz4"/],
    ['level 23', (m) => { m.level = 23; }, /level is out of range/],
    ['block size 3000', (m) => { m.blockSize = 3000; }, /blockSize/],
    ['block size 2 KiB', (m) => { m.blockSize = 2048; }, /blockSize/],
    ['block size 2 MiB', (m) => { m.blockSize = 2 * 1024 * 1024; }, /blockSize/],
    ['block size 12 KiB', (m) => { m.blockSize = 12 * KiB; }, /blockSize/],
    ['a writer that is not a string', (m) => { m.writer = null; }, /writer is not a string/],
    ['meta that is an array', (m) => { m.meta = []; }, /meta is not an object/],
    ['meta that is null', (m) => { m.meta = null; }, /meta is not an object/],
    ['a manifest that is an array', () => [], /not an object/],
    ['a manifest that is null', () => 'null', /not an object/],
    ['a manifest that is a number', () => '1', /not an object/],
    ['a manifest that is not JSON', () => '{"format":1,', /not valid JSON/],
    ['a manifest that is not UTF-8 JSON', () => '\u0000\u0001', /not valid JSON/],
    ['a manifest nested a million arrays deep', () => '['.repeat(1e6) + ']'.repeat(1e6), /not an object|not valid JSON/],
    ['an empty manifest', () => '', /not valid JSON/],
  ];
}

test('A manifest rewritten unchanged with a recomputed hash and tag still opens (the rewriting is sound).', (t) => {
  const out = scratch();
  rewriteManifest(fixture.file, out, fixture.key, fixture.codec, () => undefined);
  withReader(out, fixture.codec, fixture.key, (r) => {
    r.verifyFull();
    assertSectionsEqual(t, r, fixture.inputs);
  });
});

test('A manifest rewritten with a valid hash and tag but hostile content is refused as manifest damage.', (t) => {
  const cases = hostileManifests();
  t.true(cases.length > 80);
  for (const [what, mutate, message] of cases) {
    const out = scratch();
    rewriteManifest(fixture.file, out, fixture.key, fixture.codec, mutate);
    const err = throwsCorrupt(t, () => openAndVerify(out, fixture.codec, fixture.key), 'manifest', what);
    t.regex(err.message, message, what);
    t.regex(err.message, /invalid manifest|not valid JSON/, what);
  }
});

// --- blocks ----------------------------------------------------------------------------------

test('A flipped bit in a block passes open and is refused as block damage by verifyStored, verifyFull and readSection.', (t) => {
  const { codec, key, parts } = fixture;
  const sections = parts.manifest.sections;
  for (const [si, bi] of [[0, 0], [1, 1], [3, 0], [3, 2], [4, 1]] as const) {
    const [offset, stored] = sections[si]!.blocks[bi]!;
    for (const at of [offset, offset + Math.floor(stored / 2), offset + stored - 1]) {
      const file = scratch();
      flipBit(fixture.file, file, at * 8 + (at % 8));
      withReader(file, codec, key, (r) => {
        const what = `section ${si} block ${bi}, byte ${at}`;
        let err = throwsCorrupt(t, () => r.verifyStored(), 'block', what);
        t.regex(err.message, new RegExp(`"${sections[si]!.name}" block ${bi} is damaged: its stored bytes do not match their hash`), what);
        throwsCorrupt(t, () => r.verifyFull(), 'block', what);
        err = throwsCorrupt(t, () => r.readSection(r.manifest.sections[si]!), 'block', what);
        t.regex(err.message, new RegExp(`block ${bi} is damaged`), what);
        // The other sections still read.
        const other = si === 4 ? 0 : 4;
        t.true(equalBytes(r.readSection(r.manifest.sections[other]!), fixture.inputs[other]!.data), what);
      });
    }
  }
});

/** Two images of one layout whose regions hold different noise: raw 4 KiB blocks, same offsets. */
async function twinImages(): Promise<{ a: string; b: string }> {
  const dir = tmp.dir();
  const mk = async (name: string, seed: number): Promise<string> => {
    const file = path.join(dir, name);
    await writeImage(file, { codec: fixture.codec, key: fixture.key, blockSize: 4 * KiB }, [region('noise', 'Uint8Array', noise(16 * KiB, seed))]);
    return file;
  };
  return { a: await mk('a.crimg', 1), b: await mk('b.crimg', 2) };
}

test('A block spliced in from another image with the same key is refused as block damage.', async (t) => {
  const { a, b } = await twinImages();
  const pa = splitImage(a);
  const pb = splitImage(b);
  const [offset, stored, , flags] = pa.manifest.sections[0]!.blocks[1]!;
  t.is(flags, 0);
  t.deepEqual(pb.manifest.sections[0]!.blocks[1]!.slice(0, 4), pa.manifest.sections[0]!.blocks[1]!.slice(0, 4));
  const spliced = Buffer.from(pa.bytes);
  pb.bytes.copy(spliced, offset, offset, offset + stored);
  const file = scratch();
  fs.writeFileSync(file, spliced);
  withReader(file, fixture.codec, fixture.key, (r) => {
    const err = throwsCorrupt(t, () => r.verifyStored(), 'block');
    t.regex(err.message, /region "noise" block 1 is damaged/);
    throwsCorrupt(t, () => r.verifyFull(), 'block');
  });
});

test('Two blocks of an image swapped in place are refused as block damage.', async (t) => {
  const { a } = await twinImages();
  const pa = splitImage(a);
  const [o1, s1] = pa.manifest.sections[0]!.blocks[1]!;
  const [o2, s2] = pa.manifest.sections[0]!.blocks[2]!;
  t.is(s1, s2);
  const swapped = Buffer.from(pa.bytes);
  pa.bytes.copy(swapped, o1, o2, o2 + s2);
  pa.bytes.copy(swapped, o2, o1, o1 + s1);
  const file = scratch();
  fs.writeFileSync(file, swapped);
  withReader(file, fixture.codec, fixture.key, (r) => {
    const err = throwsCorrupt(t, () => r.verifyStored(), 'block');
    t.regex(err.message, /block 1 is damaged/);
  });
});

/** The fixture with block (si, bi)'s stored bytes replaced and the manifest rewritten by `mutate`, hash and tag recomputed. */
function tamperedBlock(si: number, bi: number, storedBytes: Uint8Array | null, mutate: Mutation): string {
  const parts = splitImage(fixture.file);
  const bytes = Buffer.from(parts.bytes);
  const manifest = JSON.parse(parts.manifestBytes.toString('utf8')) as Record<string, any>;
  if (storedBytes) {
    const [offset, stored] = manifest.sections[si].blocks[bi] as [number, number];
    if (storedBytes.length !== stored) throw new Error('test bug: replacement must keep the stored length');
    bytes.set(storedBytes, offset);
  }
  mutate(manifest);
  const out = scratch();
  const altered: ImageParts = { ...parts, bytes, header: bytes.subarray(0, HEADER_LENGTH), blocks: bytes.subarray(HEADER_LENGTH, parts.manifestOffset) };
  writeWithManifest(out, altered, Buffer.from(JSON.stringify(manifest)), fixture.key, fixture.codec);
  return out;
}

test('Authenticated blocks that lie about their content pass verifyStored and are refused by verifyFull.', (t) => {
  const { codec, key, parts } = fixture;
  const grid0 = parts.manifest.sections[3]!.blocks[0]!;
  t.true(grid0[3] === 3 || grid0[3] === 4, 'the grid block is compressed');
  const garbage = noise(grid0[1], 77);
  const cases: [string, string][] = [
    // zstd without the shuffle flag: decodes, but to shuffled bytes whose hash is wrong.
    ['a shuffled block flagged as unshuffled', tamperedBlock(3, 0, null, (m) => { m.sections[3].blocks[0][3] = 1; })],
    // Not a zstd frame at all, with a stored hash that matches it.
    ['garbage stored bytes with a matching stored hash', tamperedBlock(3, 0, garbage, (m) => { m.sections[3].blocks[0][4] = hashToHex(codec.blockHash(garbage, 'xxh3')); })],
    // A raw block whose raw hash was changed.
    ['a raw block with another raw hash', tamperedBlock(4, 0, null, (m) => { m.sections[4].blocks[0][5] = '0123456789abcdef'; })],
  ];
  for (const [what, file] of cases) {
    withReader(file, codec, key, (r) => {
      t.notThrows(() => r.verifyStored(), what);
      const err = throwsCorrupt(t, () => r.verifyFull(), 'block', what);
      t.regex(err.message, /block 0 is damaged: (its decoded bytes do not match their hash|it does not decompress to its recorded length)$/, what);
    });
  }
});

test('A compressed block whose authenticated stored hash is wrong but whose bytes decode to its raw hash is read (a decode checks what it produced); verifyStored and verifyFull refuse it.', (t) => {
  const { codec, key, parts } = fixture;
  const grid0 = parts.manifest.sections[3]!.blocks[0]!;
  t.not(grid0[3], 0, 'the grid block is compressed');
  const file = tamperedBlock(3, 0, null, (m) => { m.sections[3].blocks[0][4] = '0123456789abcdef'; });
  withReader(file, codec, key, (r) => {
    t.true(equalBytes(r.readSection(r.manifest.sections[3]!), fixture.inputs[3]!.data));
    let err = throwsCorrupt(t, () => r.verifyStored(), 'block');
    t.regex(err.message, /block 0 is damaged: its stored bytes do not match their hash/);
    err = throwsCorrupt(t, () => r.verifyFull(), 'block');
    t.regex(err.message, /block 0 is damaged: its stored bytes do not match their hash/);
  });
});

// --- every bit -------------------------------------------------------------------------------

test('Each of 200 single-bit flips across a small image is refused with a typed error, or reads back identical data.', (t) => {
  const { codec, key, file, inputs, parts } = fixture;
  const bits = parts.bytes.length * 8;
  const tagFirstBit = (parts.bytes.length - FOOTER_LENGTH + 24) * 8;
  const tagEndBit = tagFirstBit + 32 * 8;
  const positions = new Set<number>();
  for (let i = 0; i < 200; i++) positions.add(Math.floor((i * (bits - 1)) / 199));
  t.is(positions.size, 200);
  for (const readKey of [key, null]) {
    let refused = 0;
    let accepted = 0;
    for (const bit of positions) {
      const out = scratch();
      flipBit(file, out, bit);
      let reader: ImageReader | null = null;
      try {
        reader = ImageReader.open(out, { codec, key: readKey });
        reader.verifyFull();
        assertSectionsEqual(t, reader, inputs, `bit ${bit} was accepted`);
        accepted++;
        // Only the tag is not covered when no key checks it.
        t.true(readKey === null && bit >= tagFirstBit && bit < tagEndBit, `bit ${bit} flipped and nothing noticed`);
      } catch (err) {
        refused++;
        const typed = err instanceof ImageCorruptError || err instanceof ImageAuthError || err instanceof ImageVersionError;
        t.true(typed, `bit ${bit}: ${String(err)}`);
        if (!typed) continue;
        t.regex((err as ImageCorruptError).code, /^CR_IMAGE_(CORRUPT|AUTH|VERSION)$/);
      } finally {
        reader?.close();
        fs.rmSync(out);
      }
    }
    t.is(refused + accepted, 200);
    if (readKey) t.is(accepted, 0, 'with the key, every flip is detected');
  }
});
