// Builds, damages and rewrites image files for the image, store and capture tests.
import type { ExecutionContext } from 'ava';
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { getCodec, getNativeCodec, getPortableCodec, type BlockCodec } from '../../src/codec/index.js';
import { ImageAuthError, ImageCorruptError, ImageVersionError, type ImageCorruptReason } from '../../src/errors.js';
import { FOOTER_LENGTH, FOOTER_MAGIC, HEADER_LENGTH, REGION_TYPES, type Manifest, type RegionTypeName } from '../../src/image/format.js';
import { ImageReader } from '../../src/image/reader.js';
import { planImage } from '../../src/image/plan.js';
import type { SectionInput } from '../../src/image/sections.js';
import { ImageWriter, imageTag, type ImageHeaderInfo, type WrittenImage } from '../../src/image/writer.js';

export const KiB = 1024;
export const MiB = 1024 * 1024;

/** A directory under os.tmpdir() that `cleanup` removes; one per test file. */
export function tempRoot(label: string): { dir: (name?: string) => string; cleanup: () => void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `cr-test-${label}-`));
  let n = 0;
  return {
    dir: (name = 'd') => {
      const d = path.join(root, `${name}-${n++}`);
      fs.mkdirSync(d, { recursive: true });
      return d;
    },
    cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

/** Deterministic bytes (xorshift32), so that a failure reproduces. Incompressible. */
export function noise(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A smooth float64 field with noise in the low bits: compresses well after the shuffle. */
export function smoothBytes(byteLength: number, seed = 3): Uint8Array {
  const n = Math.floor(byteLength / 8);
  const field = new Float64Array(n);
  const jitter = noise(n, seed);
  for (let i = 0; i < n; i++) field[i] = Math.sin(i / 97) * 1000 + jitter[i]! * 1e-9;
  const out = new Uint8Array(byteLength);
  out.set(new Uint8Array(field.buffer));
  // A tail shorter than an element: copied unshuffled.
  for (let i = n * 8; i < byteLength; i++) out[i] = i & 0xff;
  return out;
}

export function newKey(): Buffer {
  return cryptoRandomBytes(32);
}

/** getCodec(), plus the other codec when both are available, for cross-codec tests. */
export async function codecs(): Promise<{ main: BlockCodec; all: BlockCodec[] }> {
  const main = await getCodec();
  const native = getNativeCodec();
  const all = native ? [native, await getPortableCodec()] : [main];
  return { main, all };
}

export function header(job = 'job', sequence = 1, meta: Record<string, unknown> = {}): ImageHeaderInfo {
  return { job, sequence, attempt: 1, createdAt: new Date('2026-11-28T15:00:00.000Z'), meta };
}

export interface WriterSettings {
  codec: BlockCodec;
  key: Buffer;
  blockSize?: number;
  batchBlocks?: number;
  level?: number;
}

export function makeWriter(s: WriterSettings): ImageWriter {
  return new ImageWriter({
    codec: s.codec,
    key: s.key,
    level: s.level ?? 1,
    blockSize: s.blockSize ?? MiB,
    batchBlocks: s.batchBlocks ?? 4,
    writerName: 'cr test',
  });
}

/** Writes one image to `file` through a FileHandle opened with 'w'. */
export async function writeImage(
  file: string,
  s: WriterSettings,
  inputs: SectionInput[],
  info: ImageHeaderInfo = header(),
  writer: ImageWriter = makeWriter(s),
): Promise<WrittenImage> {
  const handle = await fsp.open(file, 'w', 0o600);
  try {
    return await writer.write(handle, info, inputs);
  } finally {
    await handle.close();
  }
}

/** A region input holding `bytes` (whose length must be a multiple of the type's element size). */
export function region(name: string, type: RegionTypeName, bytes: Uint8Array): SectionInput {
  const elementSize = REGION_TYPES[type].BYTES_PER_ELEMENT;
  if (bytes.length % elementSize !== 0) throw new Error(`test bug: ${bytes.length} bytes do not fit ${type}`);
  return { kind: 'region', name, type, elementSize, data: bytes };
}

/** One region of every type, with lengths that leave short last blocks at 4 KiB blocks. */
export function regionOfEveryType(seed: number): SectionInput[] {
  return (Object.keys(REGION_TYPES) as RegionTypeName[]).map((type, i) => {
    const es = REGION_TYPES[type].BYTES_PER_ELEMENT;
    const elements = Math.floor((5 * KiB + 17 * (i + 1)) / es);
    const bytes = i % 2 === 0 ? smoothBytes(elements * es, seed + i) : noise(elements * es, seed + i);
    return region(`r-${type}`, type, bytes);
  });
}

/** A small image with a state (v8 + 2 buffers) and two regions: the damage tests' subject. */
export function smallInputs(seed = 1): SectionInput[] {
  return [
    { kind: 'state', role: 'v8', name: 'progress', data: noise(300, seed) },
    { kind: 'state', role: 'buffer', name: 'progress', index: 0, elementSize: 8, data: smoothBytes(6 * KiB, seed + 1) },
    { kind: 'state', role: 'buffer', name: 'progress', index: 1, elementSize: 1, data: noise(100, seed + 2) },
    region('grid', 'Float64Array', smoothBytes(9 * KiB, seed + 3)),
    region('mask', 'Uint8Array', noise(5 * KiB, seed + 4)),
  ];
}

/** The raw parts of an image file. */
export interface ImageParts {
  bytes: Buffer;
  header: Buffer;
  blocks: Buffer;
  manifestOffset: number;
  manifestBytes: Buffer;
  manifest: Manifest;
  footer: Buffer;
}

export function splitImage(file: string): ImageParts {
  const bytes = fs.readFileSync(file);
  const footer = bytes.subarray(bytes.length - FOOTER_LENGTH);
  const manifestOffset = Number(footer.readBigUInt64LE(0));
  const manifestLength = Number(footer.readBigUInt64LE(8));
  const manifestBytes = bytes.subarray(manifestOffset, manifestOffset + manifestLength);
  return {
    bytes,
    header: bytes.subarray(0, HEADER_LENGTH),
    blocks: bytes.subarray(HEADER_LENGTH, manifestOffset),
    manifestOffset,
    manifestBytes,
    manifest: JSON.parse(manifestBytes.toString('utf8')) as Manifest,
    footer,
  };
}

/**
 * What an attacker holding the key can do: replace the manifest by `text` (or by the JSON of
 * what `mutate` returns) and recompute the footer's hash and tag, so that only the manifest's
 * content can be refused. The blocks and header stay as they were.
 */
export function rewriteManifest(
  file: string,
  out: string,
  key: Buffer,
  codec: BlockCodec,
  mutate: (m: Record<string, any>) => unknown,
): void {
  const parts = splitImage(file);
  const manifest = JSON.parse(parts.manifestBytes.toString('utf8')) as Record<string, any>;
  const result = mutate(manifest);
  const text = typeof result === 'string' ? result : JSON.stringify(result === undefined ? manifest : result);
  writeWithManifest(out, parts, Buffer.from(text, 'utf8'), key, codec);
}

/** Writes header ‖ blocks ‖ manifestBytes ‖ a correct footer (hash and tag) to `out`. */
export function writeWithManifest(out: string, parts: ImageParts, manifestBytes: Buffer, key: Buffer, codec: BlockCodec): void {
  const footer = Buffer.alloc(FOOTER_LENGTH);
  footer.writeBigUInt64LE(BigInt(parts.manifestOffset), 0);
  footer.writeBigUInt64LE(BigInt(manifestBytes.length), 8);
  footer.writeBigUInt64LE(codec.hash64(manifestBytes), 16);
  imageTag(key, parts.header, footer, manifestBytes).copy(footer, 24);
  FOOTER_MAGIC.copy(footer, 56);
  fs.writeFileSync(out, Buffer.concat([parts.header, parts.blocks, manifestBytes, footer]));
}

/** A copy of `file` at `out` with bit `bit` (counted from the file's first byte) inverted. */
export function flipBit(file: string, out: string, bit: number): void {
  const bytes = fs.readFileSync(file);
  bytes[bit >> 3]! ^= 1 << (bit & 7);
  fs.writeFileSync(out, bytes);
}

/** Asserts that fn throws ImageCorruptError with code CR_IMAGE_CORRUPT and one of `reasons`. */
export function throwsCorrupt(t: ExecutionContext, fn: () => unknown, reasons: ImageCorruptReason | ImageCorruptReason[], what = ''): ImageCorruptError {
  const err = t.throws<ImageCorruptError>(fn, { instanceOf: ImageCorruptError }, what);
  t.is(err.code, 'CR_IMAGE_CORRUPT', what);
  const allowed = Array.isArray(reasons) ? reasons : [reasons];
  t.true(allowed.includes(err.reason), `${what}: reason ${err.reason}, expected ${allowed.join(' or ')} (${err.message})`);
  return err;
}

export function throwsAuth(t: ExecutionContext, fn: () => unknown, what = ''): ImageAuthError {
  const err = t.throws<ImageAuthError>(fn, { instanceOf: ImageAuthError }, what);
  t.is(err.code, 'CR_IMAGE_AUTH', what);
  return err;
}

export function throwsVersion(t: ExecutionContext, fn: () => unknown, found: number): ImageVersionError {
  const err = t.throws<ImageVersionError>(fn, { instanceOf: ImageVersionError });
  t.is(err.code, 'CR_IMAGE_VERSION');
  t.is(err.found, found);
  return err;
}

/** Opens, runs fn on the reader and always closes it. */
export function withReader<T>(file: string, codec: BlockCodec, key: Buffer | null, fn: (r: ImageReader) => T, expect?: { job?: string; sequence?: number }): T {
  const reader = ImageReader.open(file, { codec, key, expect });
  try {
    return fn(reader);
  } finally {
    reader.close();
  }
}

/** Opens and fully verifies: what every damage test expects to be refused. */
export function openAndVerify(file: string, codec: BlockCodec, key: Buffer | null, expect?: { job?: string; sequence?: number }): void {
  withReader(file, codec, key, (r) => r.verifyFull(), expect);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

/** Reads every section of an image and compares it with what was written, section by section. */
export function assertSectionsEqual(t: ExecutionContext, reader: ImageReader, inputs: SectionInput[], what = ''): void {
  t.is(reader.manifest.sections.length, inputs.length, what);
  for (const [i, section] of reader.manifest.sections.entries()) {
    const input = inputs[i]!;
    t.is(section.name, input.name, what);
    t.true(equalBytes(reader.readSection(section), input.data), `${what}: section ${i} (${section.kind} "${section.name}") reads back different bytes`);
  }
}

/** Writes one image to a new `file` (directly, O_DIRECT, when `direct`: minBytes 0 takes even the smallest) and fsyncs it. */
export async function writeTo(file: string, writer: ImageWriter, inputs: SectionInput[], direct: boolean, previous: { manifest: Manifest } | null = null, sequence = 1): Promise<WrittenImage> {
  const handle = await fsp.open(file, 'wx', 0o600);
  try {
    const written = await writer.write(handle, header('job', sequence), inputs, previous ? planImage(inputs, { previous: previous.manifest, blockSize: writer.blockSize }) : null, direct ? { path: file, minBytes: 0 } : null);
    await handle.sync();
    return written;
  } finally {
    await handle.close();
  }
}
