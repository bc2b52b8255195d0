// Opens an image and checks it in the order docs/image-format.md gives ("What a reader checks"),
// so that no length, offset or hash from disk is used before it is validated. Synchronous on
// purpose: `cr.region()` restores inside a synchronous call, and restore happens once per start.
// The image's ends (header, footer, manifest: checks 1–5) are read by manifest-reader.ts; the
// blocks here.
import fs from 'node:fs';
import path from 'node:path';
import util from 'node:util';
import type { BlockCodec, BlockTargets, DecodeRequest, ReadFailure, ReadRequest } from '../codec/types.js';
import { ImageCorruptError } from '../errors.js';
import { blockHashOf, imageFileName, imageId, zstdBound, type Manifest, type Section } from './format.js';
import { openRegularFile, readExactly, readManifest, TRUNCATED_MESSAGE, type ManifestChecks } from './manifest-reader.js';

/**
 * Blocks per call when the codec reads and decodes on its own threads (`readBlocks`). It bounds
 * the descriptor arrays of one call, not the memory read: each thread holds one block's stored
 * bytes at a time. A call ends when its last block is done, so larger calls wait less at the end.
 */
const READ_CALL_BLOCKS = 1024;
/** Sections smaller than this are read into shared allocations of up to this size (readSections). */
const PACKED_BYTES = 16 << 20;

/**
 * Blocks whose stored bytes were hashed before the reader looked at them (as they streamed into
 * the file): true when the bytes at [offset, offset + length) hashed to `hash` (16 hex digits).
 */
export interface HashedBlocks {
  passed(offset: number, length: number, hash: string): boolean;
}

export interface OpenImageOptions extends ManifestChecks {
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
      if (blockHashOf(reader.manifest.format) !== blockHashOf(this.manifest.format)) {
        // cr never shares blocks across a change of block hash (image/plan.ts): their hashes here could not be checked.
        const format = reader.manifest.format;
        reader.close();
        throw new ImageCorruptError('base', `it shares blocks with image ${id}, of format ${format}, whose blocks are hashed differently`, this.file);
      }
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
    return this.#codec.blockHash(bytes, blockHashOf(this.manifest.format)) === BigInt(`0x${hash}`);
  }

  /** Reads one block's `length` stored bytes at `offset` of `source` into `scratch` and checks them against `hash`. */
  #readMatches(source: { fd: number; file: string }, scratch: Buffer, offset: number, length: number, hash: string): boolean {
    readExactly(source.fd, scratch, 0, length, offset, source.file);
    return this.#storedMatches(scratch.subarray(0, length), hash);
  }

  /**
   * Every check there is, what `image verify` runs: every block's stored hash (a decode checks
   * what a block decodes to, and would pass a damaged byte that decodes to the same bytes), then
   * every block decoded into scratch memory and checked against its raw hash.
   */
  verifyFull(): void {
    this.verifyStored();
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

  /**
   * Decodes whole sections into new memory, verifying every block. Where the codec reads on its
   * own threads, the blocks of many sections go in one call: an image of many small states would
   * otherwise make one call, and its hand-over to the threads, per state. Sections under
   * PACKED_BYTES share allocations of up to that size (views of one buffer); a larger one has
   * its own, so no allocation outgrows what one section needs.
   */
  readSections(sections: readonly Section[]): Uint8Array[] {
    const out: Uint8Array[] = [];
    let pack: ArrayBuffer | null = null;
    let packed = 0;
    for (const section of sections) {
      if (section.length >= PACKED_BYTES) {
        out.push(new Uint8Array(section.length));
        continue;
      }
      if (pack === null || packed + section.length > pack.byteLength) {
        let bytes = 0;
        for (let i = out.length; i < sections.length; i++) {
          const length = sections[i]!.length;
          if (length >= PACKED_BYTES) continue; // has memory of its own
          if (bytes + length > PACKED_BYTES) break;
          bytes += length;
        }
        pack = new ArrayBuffer(Math.max(bytes, section.length));
        packed = 0;
      }
      out.push(new Uint8Array(pack, packed, section.length));
      packed += section.length;
    }
    if (!this.#codec.readBlocks) {
      sections.forEach((section, i) => this.readSectionInto(section, out[i]!));
      return out;
    }
    // One call holds at most READ_CALL_BLOCKS blocks, all of one element size (unshuffled alike),
    // into one buffer.
    let runs: BlockRun[] = [];
    let blocks = 0;
    let into: ArrayBufferLike | null = null;
    const flush = (): void => {
      if (runs.length > 0) this.#readDecode(runs, new Uint8Array(into!));
      runs = [];
      blocks = 0;
    };
    sections.forEach((section, i) => {
      const dst = out[i]!;
      for (let first = 0; first < section.blocks.length; ) {
        if (blocks === READ_CALL_BLOCKS || (runs.length > 0 && (runs[0]!.section.elementSize !== section.elementSize || into !== dst.buffer))) flush();
        into = dst.buffer;
        const count = Math.min(READ_CALL_BLOCKS - blocks, section.blocks.length - first);
        runs.push({ section, first, count, dstOffset: dst.byteOffset + first * this.manifest.blockSize });
        blocks += count;
        first += count;
      }
    });
    flush();
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
    const run: BlockRun = { section, first, count, dstOffset: first * this.manifest.blockSize + dstBias };
    if (this.#codec.readBlocks) this.#readDecode([run], dst);
    else this.#decodeBatch(run, dst);
  }

  /**
   * The codec's threads read, verify and decode the blocks of `runs` (docs/image-format.md,
   * "Restore pipeline"), all of one element size. Where each block lives is resolved here first;
   * a block whose base is missing or whose bytes lie outside its file's block area is reported
   * only if no block before it fails, so the error names the first bad block whichever check
   * finds it.
   */
  #readDecode(runs: readonly BlockRun[], dst: Uint8Array): void {
    const targets = this.#targets(runs, dst);
    const request: ReadRequest = { ...targets, fds: new Int32Array(targets.count), positions: new Float64Array(targets.count) };
    const files: string[] = new Array<string>(targets.count);
    let unreadable: Error | null = null;
    let j = 0;
    locate: for (const { section, first, count } of runs) {
      for (let k = first; k < first + count; k++, j++) {
        let source: { fd: number; end: number; file: string };
        try {
          source = this.#locate(section, k);
        } catch (err) {
          unreadable = err as Error;
          request.count = j;
          break locate;
        }
        files[j] = source.file;
        request.fds[j] = source.fd;
        request.positions[j] = section.blocks[k]![0]; // the block's offset in its file
      }
    }
    const failure = this.#codec.readBlocks!(request);
    if (failure) {
      const { section, index } = blockAt(runs, failure.index);
      throw readError(this.file, files[failure.index]!, section, index, failure);
    }
    if (unreadable) throw unreadable;
  }

  /** What reading and decoding alike need of the blocks of `runs`, in order: stored form, hashes, place in dst. */
  #targets(runs: readonly BlockRun[], dst: Uint8Array): BlockTargets {
    let count = 0;
    for (const run of runs) count += run.count;
    const targets: BlockTargets = {
      count,
      storedLengths: new Uint32Array(count),
      flags: new Uint8Array(count),
      storedHashes: new BigUint64Array(count),
      rawHashes: new BigUint64Array(count),
      dst,
      dstOffsets: new Float64Array(count),
      rawLengths: new Uint32Array(count),
      elementSize: runs[0]!.section.elementSize,
      hash: blockHashOf(this.manifest.format),
    };
    let j = 0;
    for (const { section, first, count: n, dstOffset } of runs) {
      for (let k = 0; k < n; k++, j++) {
        const [, stored, rawLength, flags, storedHash, rawHash] = section.blocks[first + k]!;
        targets.storedLengths[j] = stored;
        targets.flags[j] = flags;
        targets.storedHashes[j] = BigInt(`0x${storedHash}`);
        targets.rawHashes[j] = BigInt(`0x${rawHash}`);
        targets.dstOffsets[j] = dstOffset + k * this.manifest.blockSize;
        targets.rawLengths[j] = rawLength;
      }
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

  #decodeBatch(run: BlockRun, dst: Uint8Array): void {
    const { section, first, count } = run;
    const staging = this.#readBatch(section, first, count);
    const stride = zstdBound(this.manifest.blockSize);
    const request: DecodeRequest = { ...this.#targets([run], dst), src: staging, srcOffsets: new Float64Array(count) };
    for (let j = 0; j < count; j++) request.srcOffsets[j] = j * stride;
    const failure = this.#codec.decode(request);
    if (failure) throw blockError(this.file, section, first + failure.index, failure.reason);
  }
}

/** Blocks [first, first + count) of a section, the first decoded to dst[dstOffset], the next a block size further each. */
interface BlockRun {
  section: Section;
  first: number;
  count: number;
  dstOffset: number;
}

/** The section and block index of the `j`-th block of `runs`. */
function blockAt(runs: readonly BlockRun[], j: number): { section: Section; index: number } {
  for (const run of runs) {
    if (j < run.count) return { section: run.section, index: run.first + j };
    j -= run.count;
  }
  throw new Error(`internal error: block ${j} is beyond the runs read`);
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

function blockError(file: string, section: Section, index: number, reason: string): ImageCorruptError {
  const what =
    reason === 'stored-hash'
      ? 'its stored bytes do not match their hash'
      : reason === 'raw-hash'
        ? 'its decoded bytes do not match their hash'
        : 'it does not decompress to its recorded length';
  return new ImageCorruptError('block', `${section.kind} "${section.name}" block ${index} is damaged: ${what}`, file);
}
