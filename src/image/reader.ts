// Opens an image and checks it in the order docs/image-format.md gives ("What a reader checks"),
// so that no length, offset or hash from disk is used before it is validated. Synchronous on
// purpose: `cr.region()` restores inside a synchronous call, and restore happens once per start.
import { timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import util from 'node:util';
import type { BlockCodec, BlockTargets, DecodeRequest, ReadFailure, ReadRequest } from '../codec/types.js';
import { ImageAuthError, ImageCorruptError, ImageVersionError } from '../errors.js';
import {
  FOOTER_LENGTH,
  FOOTER_MAGIC,
  FORMAT_VERSION,
  MIN_FORMAT_VERSION,
  HEADER_LENGTH,
  HEADER_MAGIC,
  imageFileName,
  imageId,
  MAX_MANIFEST_LENGTH,
  validateManifest,
  zstdBound,
  type Manifest,
  type Section,
} from './format.js';
import { imageTag } from './writer.js';

/**
 * Blocks per call when the codec reads and decodes on its own threads (`readBlocks`). It bounds
 * the descriptor arrays of one call, not the memory read: each thread holds one block's stored
 * bytes at a time. A call ends when its last block is done, so larger calls wait less at the end.
 */
const READ_CALL_BLOCKS = 1024;

/**
 * Blocks whose stored bytes were hashed before the reader looked at them (as they streamed into
 * the file): true when the bytes at [offset, offset + length) hashed to `hash` (16 hex digits).
 */
export interface HashedBlocks {
  passed(offset: number, length: number, hash: string): boolean;
}

export interface OpenImageOptions {
  codec: BlockCodec;
  /** The image key. null skips the tag check (`image inspect` without a key); `authenticated` says so. */
  key: Buffer | null;
  /** What the caller expects the image to be; a mismatch is ImageCorruptError('mismatch'). */
  expect?: { job?: string; sequence?: number };
  /** Blocks read and decoded per batch on the JS thread (a codec without `readBlocks`), and per `verifyFull` batch. Default 16. */
  batchBlocks?: number;
  /**
   * The file of image `sequence` of the same job, for the blocks an incremental image shares.
   * Default: the file of that number beside this one (`<dir>/00000007.crimg`).
   */
  resolveBase?: (sequence: number) => string | null;
  /**
   * Whether a symbolic link at `file` (or at a base's file) is followed. Default true, for a path
   * the user named; a store opens its own files with false, so a planted link is not an image.
   */
  followLinks?: boolean;
}

export class ImageReader {
  readonly file: string;
  readonly manifest: Manifest;
  readonly size: number;
  /** True when the tag was checked against a key. */
  readonly authenticated: boolean;
  /** End of the block area: the manifest's offset. */
  readonly blocksEnd: number;
  readonly #fd: number;
  readonly #options: OpenImageOptions;
  readonly #codec: BlockCodec;
  readonly #batchBlocks: number;
  readonly #bases = new Map<number, ImageReader>();
  #staging: Buffer | null = null;

  private constructor(file: string, fd: number, size: number, manifest: Manifest, blocksEnd: number, options: OpenImageOptions) {
    this.file = file;
    this.#fd = fd;
    this.size = size;
    this.manifest = manifest;
    this.blocksEnd = blocksEnd;
    this.authenticated = options.key !== null;
    this.#options = options;
    this.#codec = options.codec;
    this.#batchBlocks = options.batchBlocks ?? 16;
  }

  /** Checks 1–5 of the spec: everything but the blocks themselves. */
  static open(file: string, options: OpenImageOptions): ImageReader {
    const fd = openRegularFile(file, options.followLinks ?? true);
    try {
      const size = fs.fstatSync(fd).size;
      const { manifest, offset } = readManifest((b, at, n, position) => fs.readSync(fd, b, at, n, position), size, file, options);
      return new ImageReader(file, fd, size, manifest, offset, options);
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
    for (const base of this.#bases.values()) base.close();
    this.#bases.clear();
    this.#staging = null;
  }

  /** Where block `b` of this image lives: this file, or the base image that holds it. */
  #source(b: readonly unknown[]): { fd: number; end: number; file: string } {
    const base = b[6] as number | undefined;
    if (base === undefined) return { fd: this.#fd, end: this.blocksEnd, file: this.file };
    let reader = this.#bases.get(base);
    if (!reader) {
      const file = this.#options.resolveBase
        ? this.#options.resolveBase(base)
        : path.join(path.dirname(this.file), imageFileName(base));
      const id = imageId(this.manifest.job, base);
      if (file === null || !fs.existsSync(file)) {
        throw new ImageCorruptError('base', `it shares blocks with image ${id}, which is missing`, this.file);
      }
      // The base's own tag and manifest are checked; its blocks are checked against the hashes
      // in *this* manifest, which this image's tag covers.
      reader = ImageReader.open(file, { ...this.#options, expect: { job: this.manifest.job, sequence: base } });
      this.#bases.set(base, reader);
    }
    return { fd: reader.#fd, end: reader.blocksEnd, file: reader.file };
  }

  /**
   * Where block `index` of `section` is read from, once its stored bytes are known to lie inside
   * that file's block area (ImageCorruptError otherwise, as for a missing base).
   */
  #locate(section: Section, index: number): { fd: number; end: number; file: string } {
    const block = section.blocks[index]!;
    const source = this.#source(block);
    if (block[0] + block[1] > source.end) {
      throw new ImageCorruptError('manifest', `${section.kind} "${section.name}" block ${index} lies outside the blocks of ${source.file}`, this.file);
    }
    return source;
  }

  /**
   * Reads every block and checks its stored hash: cheap (no decompression), catches any damaged
   * byte. With `passed`, a block of this file whose bytes were hashed as they streamed into it
   * (and matched this manifest's offset, length and stored hash) is not read again.
   */
  verifyStored(passed: HashedBlocks | null = null): void {
    if (passed !== null) return this.#verifyStoredExcept(passed);
    for (const section of this.manifest.sections) {
      const { blocks } = section;
      for (let first = 0; first < blocks.length; first += this.#batchBlocks) {
        const count = Math.min(this.#batchBlocks, blocks.length - first);
        const staging = this.#readBatch(section, first, count);
        const stride = zstdBound(this.manifest.blockSize);
        for (let j = 0; j < count; j++) {
          const b = blocks[first + j]!;
          if (!this.#storedMatches(staging.subarray(j * stride, j * stride + b[1]), b[4])) throw blockError(this.file, section, first + j, 'stored-hash');
        }
      }
    }
  }

  #verifyStoredExcept(passed: HashedBlocks): void {
    const scratch = (this.#staging ??= Buffer.allocUnsafe(zstdBound(this.manifest.blockSize) * this.#batchBlocks));
    for (const section of this.manifest.sections) {
      for (let i = 0; i < section.blocks.length; i++) {
        const [offset, stored, , , hash] = section.blocks[i]!;
        const source = this.#locate(section, i);
        if (source.fd === this.#fd && passed.passed(offset, stored, hash)) continue;
        if (!this.#readMatches(source, scratch, offset, stored, hash)) throw blockError(this.file, section, i, 'stored-hash');
      }
    }
  }

  /** True when `bytes` are the stored bytes a block's `hash` (16 hex digits) describes. */
  #storedMatches(bytes: Uint8Array, hash: string): boolean {
    return this.#codec.hash64(bytes) === BigInt(`0x${hash}`);
  }

  /** Reads one block's `length` stored bytes at `offset` of `source` into `scratch` and checks them against `hash`. */
  #readMatches(source: { fd: number; file: string }, scratch: Buffer, offset: number, length: number, hash: string): boolean {
    readExactly(source.fd, scratch, 0, length, offset, source.file);
    return this.#storedMatches(scratch.subarray(0, length), hash);
  }

  /** Decodes every block into scratch memory with all checks: what `image verify` runs. */
  verifyFull(): void {
    const scratch = Buffer.allocUnsafe(this.manifest.blockSize * this.#batchBlocks);
    for (const section of this.manifest.sections) {
      for (let first = 0; first < section.blocks.length; first += this.#batchBlocks) {
        const count = Math.min(this.#batchBlocks, section.blocks.length - first);
        this.#decodeRange(section, first, count, scratch, -first * this.manifest.blockSize);
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
    const step = this.#codec.readBlocks ? READ_CALL_BLOCKS : this.#batchBlocks;
    for (let first = 0; first < section.blocks.length; first += step) {
      this.#decodeRange(section, first, Math.min(step, section.blocks.length - first), dst, 0);
    }
  }

  /** Blocks [first, first+count) of section into dst at (first + j) * blockSize + dstBias, all checks. */
  #decodeRange(section: Section, first: number, count: number, dst: Uint8Array, dstBias: number): void {
    if (this.#codec.readBlocks) this.#readDecode(section, first, count, dst, dstBias);
    else this.#decodeBatch(section, first, count, dst, dstBias);
  }

  /**
   * The codec's threads read, verify and decode the blocks (docs/image-format.md, "Restore
   * pipeline"). Where each block lives is resolved here first; a block whose base is missing or
   * whose bytes lie outside its file's block area is reported only if no block before it fails,
   * so the error names the first bad block whichever check finds it.
   */
  #readDecode(section: Section, first: number, count: number, dst: Uint8Array, dstBias: number): void {
    const request: ReadRequest = { ...this.#targets(section, first, count, dst, dstBias), fds: new Int32Array(count), positions: new Float64Array(count) };
    const files: string[] = new Array<string>(count);
    let unreadable: Error | null = null;
    for (let j = 0; j < count; j++) {
      let source: { fd: number; end: number; file: string };
      try {
        source = this.#locate(section, first + j);
      } catch (err) {
        unreadable = err as Error;
        request.count = j;
        break;
      }
      files[j] = source.file;
      request.fds[j] = source.fd;
      request.positions[j] = section.blocks[first + j]![0]; // the block's offset in its file
    }
    const failure = this.#codec.readBlocks!(request);
    if (failure) throw readError(this.file, files[failure.index]!, section, first + failure.index, failure);
    if (unreadable) throw unreadable;
  }

  /** What reading and decoding alike need of blocks [first, first+count): stored form, hashes, place in dst. */
  #targets(section: Section, first: number, count: number, dst: Uint8Array, dstBias: number): BlockTargets {
    const targets: BlockTargets = {
      count,
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
      targets.storedLengths[j] = stored;
      targets.flags[j] = flags;
      targets.storedHashes[j] = BigInt(`0x${storedHash}`);
      targets.rawHashes[j] = BigInt(`0x${rawHash}`);
      targets.dstOffsets[j] = (first + j) * this.manifest.blockSize + dstBias;
      targets.rawLengths[j] = rawLength;
    }
    return targets;
  }

  /** Reads the stored bytes of blocks [first, first+count) into staging, block j at j*stride. */
  #readBatch(section: Section, first: number, count: number): Buffer {
    const stride = zstdBound(this.manifest.blockSize);
    this.#staging ??= Buffer.allocUnsafe(stride * this.#batchBlocks);
    for (let j = 0; j < count; j++) {
      const [offset, stored] = section.blocks[first + j]!;
      const source = this.#locate(section, first + j);
      readExactly(source.fd, this.#staging, j * stride, stored, offset, source.file);
    }
    return this.#staging;
  }

  #decodeBatch(section: Section, first: number, count: number, dst: Uint8Array, dstBias: number): void {
    const staging = this.#readBatch(section, first, count);
    const stride = zstdBound(this.manifest.blockSize);
    const request: DecodeRequest = { ...this.#targets(section, first, count, dst, dstBias), src: staging, srcOffsets: new Float64Array(count) };
    for (let j = 0; j < count; j++) request.srcOffsets[j] = j * stride;
    const failure = this.#codec.decode(request);
    if (failure) throw blockError(this.file, section, first + failure.index, failure.reason);
  }
}

/** A failure of the codec's readBlocks as the JS read path reports it: same classes, reasons and messages. */
function readError(file: string, source: string, section: Section, index: number, failure: ReadFailure): Error {
  if (failure.reason === 'truncated') return new ImageCorruptError('truncated', TRUNCATED_MESSAGE, source);
  if (failure.reason === 'io') {
    // As fs.readSync would have thrown it (a system error, not damage: the store does not pass over it).
    const errno = -(failure.errno ?? 0);
    const [code, description] = util.getSystemErrorMap().get(errno) ?? ['EIO', 'i/o error'];
    return Object.assign(new Error(`${code}: ${description}, read`), { errno, code, syscall: 'read', path: source });
  }
  return blockError(file, section, index, failure.reason);
}

const TRUNCATED_MESSAGE = 'the file ended before a block it lists: it is truncated';

function blockError(file: string, section: Section, index: number, reason: string): ImageCorruptError {
  const what =
    reason === 'stored-hash'
      ? 'its stored bytes do not match their hash'
      : reason === 'raw-hash'
        ? 'its decoded bytes do not match their hash'
        : 'it does not decompress to its recorded length';
  return new ImageCorruptError('block', `${section.kind} "${section.name}" block ${index} is damaged: ${what}`, file);
}

/** Reads like fs.readSync: bytes read into `buffer` at `at`, 0 past what is there. */
type ReadAt = (buffer: Uint8Array, at: number, length: number, position: number) => number;

/**
 * Checks 1–5 of the spec (everything but the blocks) of an image held where it is not a file
 * (an object store), from its first bytes (`head`, at least HEADER_LENGTH) and its last bytes
 * (`tail`, at least the manifest and footer) and its size: what the scheduler records an image
 * of a shared store by, without reading its blocks. `name` names it in errors.
 */
export function manifestFromEnds(head: Buffer, tail: Buffer, size: number, name: string, options: OpenImageOptions): Manifest {
  const tailStart = size - tail.length;
  const read: ReadAt = (buffer, at, length, position) => {
    const [source, start] = position >= tailStart ? [tail, tailStart] : [head, 0];
    const from = position - start;
    if (from < 0 || from >= source.length) return 0;
    return source.copy(buffer, at, from, Math.min(source.length, from + length));
  };
  return readManifest(read, size, name, options).manifest;
}

function readManifest(read: ReadAt, size: number, file: string, options: OpenImageOptions): { manifest: Manifest; offset: number } {
  if (size === 0) throw new ImageCorruptError('empty', 'the file is empty: not a complete checkpoint image', file);
  const header = Buffer.alloc(HEADER_LENGTH);
  const headerRead = read(header, 0, Math.min(HEADER_LENGTH, size), 0);
  const magicRead = Math.min(headerRead, HEADER_MAGIC.length);
  if (!header.subarray(0, magicRead).equals(HEADER_MAGIC.subarray(0, magicRead))) {
    throw new ImageCorruptError('foreign', 'not a cr checkpoint image (wrong magic number)', file);
  }
  if (size < HEADER_LENGTH + FOOTER_LENGTH) {
    throw new ImageCorruptError('truncated', `the file is truncated (${size} bytes, an image has at least ${HEADER_LENGTH + FOOTER_LENGTH})`, file);
  }
  const version = header.readUInt32LE(8);
  if (version < MIN_FORMAT_VERSION || version > FORMAT_VERSION) throw new ImageVersionError(version, FORMAT_VERSION, file);
  if (header.readUInt32LE(12) !== 0) throw new ImageCorruptError('manifest', 'unknown header flags', file);

  const footer = Buffer.alloc(FOOTER_LENGTH);
  readExactly(read, footer, 0, FOOTER_LENGTH, size - FOOTER_LENGTH, file);
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
  readExactly(read, manifestBytes, 0, manifestBytes.length, offset, file);
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
  const manifest = validateManifest(parsed, offset, file, version);
  const { expect } = options;
  if (expect?.job !== undefined && manifest.job !== expect.job) {
    throw new ImageCorruptError('mismatch', `the image belongs to job "${manifest.job}", not "${expect.job}"`, file);
  }
  if (expect?.sequence !== undefined && manifest.sequence !== expect.sequence) {
    throw new ImageCorruptError('mismatch', `the image says it is number ${manifest.sequence}, its file name says ${expect.sequence}`, file);
  }
  return { manifest, offset };
}

function readExactly(from: number | ReadAt, buffer: Uint8Array, at: number, length: number, position: number, file: string): void {
  const read: ReadAt = typeof from === 'number' ? (b, i, n, p) => fs.readSync(from, b, i, n, p) : from;
  let done = 0;
  while (done < length) {
    const n = read(buffer, at + done, length - done, position + done);
    if (n === 0) throw new ImageCorruptError('truncated', TRUNCATED_MESSAGE, file);
    done += n;
  }
}

/**
 * Opens `file` for reading only if it is a regular file: O_NONBLOCK, so that a FIFO planted under
 * an image's name cannot block the open (it waits for a writer otherwise), O_NOFOLLOW unless
 * `followLinks`, then fstat on the descriptor (no race with a swap after a check by name).
 */
function openRegularFile(file: string, followLinks: boolean): number {
  const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW } = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDONLY | O_NONBLOCK | (followLinks ? 0 : O_NOFOLLOW));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new ImageCorruptError('not-a-file', 'it is a symbolic link, not an image file', file);
    throw err;
  }
  const stat = fs.fstatSync(fd);
  if (!stat.isFile()) {
    fs.closeSync(fd);
    throw new ImageCorruptError('not-a-file', `it is ${fileKind(stat)}, not an image file`, file);
  }
  return fd;
}

/** What a directory entry is, for messages: "a directory", "a FIFO", … */
export function fileKind(stat: fs.Stats | fs.Dirent): string {
  if (stat.isFile()) return 'a regular file';
  if (stat.isDirectory()) return 'a directory';
  if (stat.isSymbolicLink()) return 'a symbolic link';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isBlockDevice() || stat.isCharacterDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * The bases an image names, read without verifying it: retention uses this only to decide what
 * it must *not* delete, so a damaged manifest can at worst keep a file longer. Throws when they
 * cannot be read (an I/O error, a damaged or foreign file): the caller cannot prove then that any
 * older image is unneeded.
 */
export function readBasesUnverified(file: string): number[] {
  const fd = openRegularFile(file, false);
  try {
    const size = fs.fstatSync(fd).size;
    if (size < HEADER_LENGTH + FOOTER_LENGTH) throw new ImageCorruptError('truncated', 'too short to name its bases', file);
    const footer = Buffer.alloc(FOOTER_LENGTH);
    readExactly(fd, footer, 0, FOOTER_LENGTH, size - FOOTER_LENGTH, file);
    const offset = Number(footer.readBigUInt64LE(0));
    const length = Number(footer.readBigUInt64LE(8));
    if (!footer.subarray(56).equals(FOOTER_MAGIC) || length > MAX_MANIFEST_LENGTH || offset + length + FOOTER_LENGTH !== size) {
      throw new ImageCorruptError('footer', 'its footer does not describe it', file);
    }
    const bytes = Buffer.alloc(length);
    readExactly(fd, bytes, 0, length, offset, file);
    let bases: unknown;
    try {
      bases = (JSON.parse(bytes.toString('utf8')) as { bases?: unknown } | null)?.bases;
    } catch {
      throw new ImageCorruptError('manifest', 'the manifest is not valid JSON', file);
    }
    if (!Array.isArray(bases) || !bases.every((b) => Number.isSafeInteger(b))) throw new ImageCorruptError('manifest', 'its bases are not a list of images', file);
    return bases as number[];
  } finally {
    fs.closeSync(fd);
  }
}
