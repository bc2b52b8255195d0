// Opens an image and checks it in the order docs/image-format.md gives ("What a reader checks"),
// so that no length, offset or hash from disk is used before it is validated. Synchronous on
// purpose: `cr.region()` restores inside a synchronous call, and restore happens once per start.
import { timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import type { BlockCodec, DecodeRequest } from '../codec/types.js';
import { ImageAuthError, ImageCorruptError, ImageVersionError } from '../errors.js';
import {
  FOOTER_LENGTH,
  FOOTER_MAGIC,
  FORMAT_VERSION,
  HEADER_LENGTH,
  HEADER_MAGIC,
  MAX_MANIFEST_LENGTH,
  validateManifest,
  zstdBound,
  type Manifest,
  type Section,
} from './format.js';
import { imageTag } from './writer.js';

export interface OpenImageOptions {
  codec: BlockCodec;
  /** The image key. null skips the tag check (`image inspect` without a key); `authenticated` says so. */
  key: Buffer | null;
  /** What the caller expects the image to be; a mismatch is ImageCorruptError('mismatch'). */
  expect?: { job?: string; sequence?: number };
  /** Blocks read and decoded per batch. Default 16. */
  batchBlocks?: number;
}

export class ImageReader {
  readonly file: string;
  readonly manifest: Manifest;
  readonly size: number;
  /** True when the tag was checked against a key. */
  readonly authenticated: boolean;
  readonly #fd: number;
  readonly #codec: BlockCodec;
  readonly #batchBlocks: number;
  #staging: Buffer | null = null;

  private constructor(file: string, fd: number, size: number, manifest: Manifest, authenticated: boolean, codec: BlockCodec, batchBlocks: number) {
    this.file = file;
    this.#fd = fd;
    this.size = size;
    this.manifest = manifest;
    this.authenticated = authenticated;
    this.#codec = codec;
    this.#batchBlocks = batchBlocks;
  }

  /** Checks 1–5 of the spec: everything but the blocks themselves. */
  static open(file: string, options: OpenImageOptions): ImageReader {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const manifest = readManifest(fd, size, file, options);
      return new ImageReader(file, fd, size, manifest, options.key !== null, options.codec, options.batchBlocks ?? 16);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  close(): void {
    try {
      fs.closeSync(this.#fd);
    } catch {
      // already closed
    }
    this.#staging = null;
  }

  /** Reads every block and checks its stored hash: cheap (no decompression), catches any damaged byte. */
  verifyStored(): void {
    for (const section of this.manifest.sections) {
      const { blocks } = section;
      for (let first = 0; first < blocks.length; first += this.#batchBlocks) {
        const count = Math.min(this.#batchBlocks, blocks.length - first);
        const staging = this.#readBatch(section, first, count);
        const stride = zstdBound(this.manifest.blockSize);
        for (let j = 0; j < count; j++) {
          const b = blocks[first + j]!;
          const hash = this.#codec.hash64(staging.subarray(j * stride, j * stride + b[1]));
          if (hash !== BigInt(`0x${b[4]}`)) throw blockError(this.file, section, first + j, 'stored-hash');
        }
      }
    }
  }

  /** Decodes every block into scratch memory with all checks: what `image verify` runs. */
  verifyFull(): void {
    const scratch = Buffer.allocUnsafe(this.manifest.blockSize * this.#batchBlocks);
    for (const section of this.manifest.sections) {
      for (let first = 0; first < section.blocks.length; first += this.#batchBlocks) {
        const count = Math.min(this.#batchBlocks, section.blocks.length - first);
        this.#decodeBatch(section, first, count, scratch, -first * this.manifest.blockSize);
      }
    }
  }

  /** Decodes a whole section into new memory. */
  readSection(section: Section): Uint8Array {
    const out = new Uint8Array(section.length);
    this.readSectionInto(section, out);
    return out;
  }

  /** Decodes a whole section into dst (exactly section.length bytes), verifying every block. */
  readSectionInto(section: Section, dst: Uint8Array): void {
    if (dst.length !== section.length) {
      throw new RangeError(`section "${section.name}" holds ${section.length} bytes, the destination ${dst.length}`);
    }
    for (let first = 0; first < section.blocks.length; first += this.#batchBlocks) {
      const count = Math.min(this.#batchBlocks, section.blocks.length - first);
      this.#decodeBatch(section, first, count, dst, 0);
    }
  }

  /** Reads the stored bytes of blocks [first, first+count) into staging, block j at j*stride. */
  #readBatch(section: Section, first: number, count: number): Buffer {
    const stride = zstdBound(this.manifest.blockSize);
    this.#staging ??= Buffer.allocUnsafe(stride * this.#batchBlocks);
    for (let j = 0; j < count; j++) {
      const [offset, stored] = section.blocks[first + j]!;
      readExactly(this.#fd, this.#staging, j * stride, stored, offset, this.file);
    }
    return this.#staging;
  }

  #decodeBatch(section: Section, first: number, count: number, dst: Uint8Array, dstBias: number): void {
    const staging = this.#readBatch(section, first, count);
    const stride = zstdBound(this.manifest.blockSize);
    const request: DecodeRequest = {
      count,
      src: staging,
      srcOffsets: new Float64Array(count),
      storedLengths: new Uint32Array(count),
      flags: new Uint8Array(count),
      storedHashes: new BigUint64Array(count),
      rawHashes: new BigUint64Array(count),
      dst,
      dstOffsets: new Float64Array(count),
      rawLengths: new Uint32Array(count),
      elementSize: section.elementSize,
    };
    for (let j = 0; j < count; j++) {
      const [, stored, rawLength, flags, storedHash, rawHash] = section.blocks[first + j]!;
      request.srcOffsets[j] = j * stride;
      request.storedLengths[j] = stored;
      request.flags[j] = flags;
      request.storedHashes[j] = BigInt(`0x${storedHash}`);
      request.rawHashes[j] = BigInt(`0x${rawHash}`);
      request.dstOffsets[j] = (first + j) * this.manifest.blockSize + dstBias;
      request.rawLengths[j] = rawLength;
    }
    const failure = this.#codec.decode(request);
    if (failure) throw blockError(this.file, section, first + failure.index, failure.reason);
  }
}

function blockError(file: string, section: Section, index: number, reason: string): ImageCorruptError {
  const what =
    reason === 'stored-hash'
      ? 'its stored bytes do not match their hash'
      : reason === 'raw-hash'
        ? 'its decoded bytes do not match their hash'
        : 'it does not decompress to its recorded length';
  return new ImageCorruptError('block', `${section.kind} "${section.name}" block ${index} is damaged: ${what}`, file);
}

function readManifest(fd: number, size: number, file: string, options: OpenImageOptions): Manifest {
  if (size === 0) throw new ImageCorruptError('empty', 'the file is empty: not a complete checkpoint image', file);
  const header = Buffer.alloc(HEADER_LENGTH);
  const headerRead = fs.readSync(fd, header, 0, Math.min(HEADER_LENGTH, size), 0);
  const magicRead = Math.min(headerRead, HEADER_MAGIC.length);
  if (!header.subarray(0, magicRead).equals(HEADER_MAGIC.subarray(0, magicRead))) {
    throw new ImageCorruptError('foreign', 'not a cr checkpoint image (wrong magic number)', file);
  }
  if (size < HEADER_LENGTH + FOOTER_LENGTH) {
    throw new ImageCorruptError('truncated', `the file is truncated (${size} bytes, an image has at least ${HEADER_LENGTH + FOOTER_LENGTH})`, file);
  }
  const version = header.readUInt32LE(8);
  if (version !== FORMAT_VERSION) throw new ImageVersionError(version, FORMAT_VERSION, file);
  if (header.readUInt32LE(12) !== 0) throw new ImageCorruptError('manifest', 'unknown header flags', file);

  const footer = Buffer.alloc(FOOTER_LENGTH);
  readExactly(fd, footer, 0, FOOTER_LENGTH, size - FOOTER_LENGTH, file);
  if (!footer.subarray(56, 64).equals(FOOTER_MAGIC)) {
    throw new ImageCorruptError('truncated', 'the footer is missing: the file is truncated or was not completely written', file);
  }
  const manifestOffset = footer.readBigUInt64LE(0);
  const manifestLength = footer.readBigUInt64LE(8);
  if (
    manifestOffset < BigInt(HEADER_LENGTH) ||
    manifestLength > BigInt(MAX_MANIFEST_LENGTH) ||
    manifestOffset + manifestLength + BigInt(FOOTER_LENGTH) !== BigInt(size)
  ) {
    throw new ImageCorruptError('footer', 'the footer does not describe this file (manifest offset or length is wrong)', file);
  }
  const offset = Number(manifestOffset);
  const manifestBytes = Buffer.alloc(Number(manifestLength));
  readExactly(fd, manifestBytes, 0, manifestBytes.length, offset, file);
  if (options.codec.hash64(manifestBytes) !== footer.readBigUInt64LE(16)) {
    throw new ImageCorruptError('manifest-hash', 'the manifest does not match its hash: the image is damaged', file);
  }
  if (options.key) {
    const expected = imageTag(options.key, header, footer, manifestBytes);
    if (!timingSafeEqual(expected, footer.subarray(24, 56))) {
      throw new ImageAuthError('the image tag does not match: it was written with another key, or altered since', file);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(manifestBytes.toString('utf8'));
  } catch {
    throw new ImageCorruptError('manifest', 'the manifest is not valid JSON', file);
  }
  const manifest = validateManifest(parsed, offset, file);
  const { expect } = options;
  if (expect?.job !== undefined && manifest.job !== expect.job) {
    throw new ImageCorruptError('mismatch', `the image belongs to job "${manifest.job}", not "${expect.job}"`, file);
  }
  if (expect?.sequence !== undefined && manifest.sequence !== expect.sequence) {
    throw new ImageCorruptError('mismatch', `the image says it is number ${manifest.sequence}, its file name says ${expect.sequence}`, file);
  }
  return manifest;
}

function readExactly(fd: number, buffer: Uint8Array, at: number, length: number, position: number, file: string): void {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buffer, at + done, length - done, position + done);
    if (n === 0) throw new ImageCorruptError('truncated', 'the file ended before a block it lists: it is truncated', file);
    done += n;
  }
}
