// An image's ends: its header, footer and manifest, read and checked in the order of
// docs/image-format.md's checks 1–5 (everything but the blocks), from a file or from an object's
// first and last bytes; and the safe opening of an image file. The blocks are reader.ts's.
import { timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import type { BlockCodec } from '../codec/types.js';
import { ImageAuthError, ImageCorruptError, ImageVersionError } from '../errors.js';
import { FOOTER_LENGTH, FOOTER_MAGIC, FORMAT_VERSION, HEADER_LENGTH, HEADER_MAGIC, MAX_MANIFEST_LENGTH, MIN_FORMAT_VERSION, validateManifest, type Manifest } from './format.js';
import { imageTag } from './writer.js';

/** What the manifest is checked against. */
export interface ManifestChecks {
  codec: BlockCodec;
  /** The image key. null skips the tag check (`image inspect` without a key); `authenticated` says so. */
  key: Buffer | null;
  /** What the caller expects the image to be; a mismatch is ImageCorruptError('mismatch'). */
  expect?: { job?: string; sequence?: number };
}

export const TRUNCATED_MESSAGE = 'the file ended before a block it lists: it is truncated';

/** Reads like fs.readSync: bytes read into `buffer` at `at`, 0 past what is there. */
export type ReadAt = (buffer: Uint8Array, at: number, length: number, position: number) => number;

/**
 * Checks 1–5 of the spec (everything but the blocks) of an image held where it is not a file
 * (an object store), from its first bytes (`head`, at least HEADER_LENGTH) and its last bytes
 * (`tail`, at least the manifest and footer) and its size: what the scheduler records an image
 * of a shared store by, without reading its blocks. `name` names it in errors.
 */
export function manifestFromEnds(head: Buffer, tail: Buffer, size: number, name: string, options: ManifestChecks): Manifest {
  const tailStart = size - tail.length;
  const read: ReadAt = (buffer, at, length, position) => {
    const [source, start] = position >= tailStart ? [tail, tailStart] : [head, 0];
    const from = position - start;
    if (from < 0 || from >= source.length) return 0;
    return source.copy(buffer, at, from, Math.min(source.length, from + length));
  };
  return readManifest(read, size, name, options).manifest;
}

export function readManifest(read: ReadAt, size: number, file: string, options: ManifestChecks): { manifest: Manifest; offset: number } {
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
  if (version < MIN_FORMAT_VERSION || version > FORMAT_VERSION) throw new ImageVersionError(version, MIN_FORMAT_VERSION, FORMAT_VERSION, file);
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

export function readExactly(from: number | ReadAt, buffer: Uint8Array, at: number, length: number, position: number, file: string): void {
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
export function openRegularFile(file: string, followLinks: boolean): number {
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
