// The stored hashes of an image's blocks, taken as its bytes stream past on their way to a file,
// so that whoever receives an image (the scheduler, from an agent) need not read it back to
// verify it. Which byte ranges to hash comes from a copy of the image's tail (its manifest and
// footer) sent ahead of the bytes; nothing in it is trusted. What this records are facts about
// the bytes that passed: "the bytes at [offset, offset + length) hash to H". The reader later
// takes the manifest from the stored file, authenticates it with its tag, and counts a block of
// that manifest as checked only when a fact matches its offset, length and stored hash exactly
// (ImageReader.verifyStored's `passed`); every other block is read back and hashed there. A tail
// that lies, is damaged or is missing therefore costs reads, never a wrong answer.
import type { FileHandle } from 'node:fs/promises';
import { blockHashOf, type BlockCodec, type BlockHashKind, FOOTER_LENGTH, FOOTER_MAGIC, FORMAT_VERSION, type Manifest, MAX_MANIFEST_LENGTH, MIN_FORMAT_VERSION, validateManifest, zstdBound } from '../src/internal.js';

/** Tails longer than this are not sent ahead (the manifest of an image of about 50 GiB). */
export const MAX_PASSING_TAIL_BYTES = 4 << 20;

/**
 * The tail of the image open in `handle` (`size` bytes): from its manifest's offset to its end,
 * as the footer says; null when the footer is not an image's or the tail is longer than
 * MAX_PASSING_TAIL_BYTES. Only the footer's own magic and lengths are looked at.
 */
export async function readImageTail(handle: FileHandle, size: number): Promise<Buffer | null> {
  if (size < FOOTER_LENGTH) return null;
  const footer = Buffer.alloc(FOOTER_LENGTH);
  if ((await handle.read(footer, 0, FOOTER_LENGTH, size - FOOTER_LENGTH)).bytesRead !== FOOTER_LENGTH) return null;
  if (!footer.subarray(56, 64).equals(FOOTER_MAGIC)) return null;
  const length = Number(footer.readBigUInt64LE(8)) + FOOTER_LENGTH;
  if (length > MAX_PASSING_TAIL_BYTES || length > size) return null;
  const tail = Buffer.alloc(length);
  if ((await handle.read(tail, 0, length, size - length)).bytesRead !== length) return null;
  return tail;
}

interface Range {
  offset: number;
  length: number;
  /** The hash of the block's stored bytes, as the manifest lists it (16 hex digits). */
  hash: string;
}

export class PassingBlocks {
  readonly #codec: BlockCodec;
  /** This file's own blocks as the tail lists them, by offset (a block held by a base is not in this file). */
  readonly #ranges: Range[];
  readonly #scratchBytes: number;
  /** `${offset}:${length}` → the block hash of the bytes that passed there. */
  readonly #seen = new Map<string, bigint>();
  /** The kind of the manifest's block hashes. */
  readonly #hash: BlockHashKind;

  private constructor(codec: BlockCodec, ranges: Range[], scratchBytes: number, hash: BlockHashKind) {
    this.#codec = codec;
    this.#ranges = ranges;
    this.#scratchBytes = scratchBytes;
    this.#hash = hash;
  }

  /**
   * The block ranges of the image of `size` bytes whose tail (from its manifest's offset to its
   * end) is `tail`; null when the tail does not describe such an image (then nothing is hashed
   * in passing, and verification reads every block).
   */
  static fromTail(codec: BlockCodec, tail: Uint8Array, size: number): PassingBlocks | null {
    if (tail.length < FOOTER_LENGTH || tail.length > size || tail.length > MAX_PASSING_TAIL_BYTES) return null;
    const bytes = Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength);
    const footer = bytes.subarray(bytes.length - FOOTER_LENGTH);
    if (!footer.subarray(56, 64).equals(FOOTER_MAGIC)) return null;
    const manifestOffset = Number(footer.readBigUInt64LE(0));
    const manifestLength = Number(footer.readBigUInt64LE(8));
    if (manifestLength > MAX_MANIFEST_LENGTH || manifestOffset !== size - tail.length || manifestLength !== tail.length - FOOTER_LENGTH) return null;
    let manifest;
    try {
      const parsed = JSON.parse(bytes.subarray(0, manifestLength).toString('utf8')) as { format?: unknown };
      // An image of an older format this cr still reads is hashed in passing too.
      const format = parsed.format;
      const version = typeof format === 'number' && Number.isInteger(format) && format >= MIN_FORMAT_VERSION && format <= FORMAT_VERSION ? format : FORMAT_VERSION;
      manifest = validateManifest(parsed, manifestOffset, null, version);
    } catch {
      return null;
    }
    return PassingBlocks.fromManifest(codec, manifest);
  }

  /** The block ranges of the image `manifest` describes (one already verified, when the scheduler reads its own file back). */
  static fromManifest(codec: BlockCodec, manifest: Manifest): PassingBlocks {
    const ranges: Range[] = [];
    for (const section of manifest.sections) {
      for (const block of section.blocks) if (block[6] === undefined) ranges.push({ offset: block[0], length: block[1], hash: block[4] });
    }
    ranges.sort((a, b) => a.offset - b.offset || a.length - b.length);
    return new PassingBlocks(codec, ranges, zstdBound(manifest.blockSize), blockHashOf(manifest.format));
  }

  /** The bytes of the file from `position` on, in order: one stream of an upload (the whole image, or a part). */
  stream(position: number): PassingStream {
    // The first block that starts at or after the stream's first byte.
    let lo = 0;
    let hi = this.#ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#ranges[mid]!.offset < position) lo = mid + 1;
      else hi = mid;
    }
    return new Stream(this.#ranges, this.#scratchBytes, position, lo, (offset, bytes) => this.#seen.set(`${offset}:${bytes.length}`, this.#codec.blockHash(bytes, this.#hash)));
  }

  /** True when the bytes at [offset, offset + length) passed, and their block hash is `hash` (16 hex digits). */
  passed(offset: number, length: number, hash: string): boolean {
    const seen = this.#seen.get(`${offset}:${length}`);
    return seen !== undefined && seen === BigInt(`0x${hash}`);
  }

  /** True when some block passed with bytes whose hash is not the one the manifest lists for it. */
  sawDamage(): boolean {
    return this.#ranges.some((r) => {
      const seen = this.#seen.get(`${r.offset}:${r.length}`);
      return seen !== undefined && seen !== BigInt(`0x${r.hash}`);
    });
  }
}

type Hash = (offset: number, bytes: Uint8Array) => void;

/** One stream's bytes as they pass, in order. */
export interface PassingStream {
  /** The next bytes (hashed before this returns: the caller may reuse them). */
  pass(bytes: Uint8Array): void;
}

/**
 * One stream's bytes as they pass: a block that lies wholly in one piece is hashed where it is;
 * one that spans pieces is gathered into scratch memory first. A block that began before the
 * stream did, or that overlaps the one before it, is left to be read back.
 */
class Stream implements PassingStream {
  readonly #ranges: readonly Range[];
  readonly #scratchBytes: number;
  readonly #hash: Hash;
  /** File position of the next byte to pass. */
  #position: number;
  /** Index of the next block to hash. */
  #next: number;
  #scratch: Buffer | null = null;
  /** Bytes of the block being gathered in scratch (0: none). */
  #gathered = 0;

  constructor(ranges: readonly Range[], scratchBytes: number, position: number, next: number, hash: Hash) {
    this.#ranges = ranges;
    this.#scratchBytes = scratchBytes;
    this.#hash = hash;
    this.#position = position;
    this.#next = next;
  }

  pass(bytes: Uint8Array): void {
    const ranges = this.#ranges;
    let at = 0;
    while (at < bytes.length && this.#next < ranges.length) {
      const block = ranges[this.#next]!;
      const here = this.#position + at;
      if (this.#gathered > 0) {
        const n = Math.min(block.length - this.#gathered, bytes.length - at);
        this.#scratch!.set(bytes.subarray(at, at + n), this.#gathered);
        this.#gathered += n;
        at += n;
        if (this.#gathered === block.length) {
          this.#hash(block.offset, this.#scratch!.subarray(0, block.length));
          this.#gathered = 0;
          this.#next++;
        }
        continue;
      }
      if (block.offset < here) {
        this.#next++; // it began before these bytes: read back
        continue;
      }
      if (block.offset - here >= bytes.length - at) break; // it starts in a later piece
      at += block.offset - here;
      if (block.length === 0) {
        this.#hash(block.offset, bytes.subarray(at, at));
        this.#next++;
      } else if (at + block.length <= bytes.length) {
        this.#hash(block.offset, bytes.subarray(at, at + block.length));
        at += block.length;
        this.#next++;
      } else if (block.length <= this.#scratchBytes) {
        this.#scratch ??= Buffer.allocUnsafe(this.#scratchBytes);
        const n = bytes.length - at;
        this.#scratch.set(bytes.subarray(at), 0);
        this.#gathered = n;
        at += n;
      } else {
        this.#next++; // longer than any valid block: the manifest will refuse it
      }
    }
    this.#position += bytes.length;
  }
}
