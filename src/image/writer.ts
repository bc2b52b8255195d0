// Streams sections into an image file (docs/image-format.md). Memory beyond the job's own is
// two encoders' staging (2 × batchBlocks blocks), 1 MiB where small writes gather and, for
// direct writes, two 8 MiB pieces of aligned staging, whatever the image size: while one batch
// is written, the next two are encoded on the codec's threads.
import { createHmac } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { BlockCodec, BlockEncoder, EncodedBatch } from '../codec/types.js';
import {
  FOOTER_LENGTH,
  FOOTER_MAGIC,
  FORMAT_VERSION,
  blockHashOf,
  HEADER_LENGTH,
  HEADER_MAGIC,
  blockTuple,
  hashToHex,
  imageId,
  MAX_BLOCK_SIZE,
  MAX_LEVEL,
  MIN_BLOCK_SIZE,
  MIN_LEVEL,
  type JobIdentity,
  type Manifest,
  type Section,
} from './format.js';
import { DirectSink, DirectStaging } from './direct-sink.js';
import { sectionOutcome, sharedBlock, type ImagePlan, type SectionOutcome } from './plan.js';
import { describeSection, inPlace, inputLength, type SectionInput } from './sections.js';

/** The hash of the blocks this writer writes: that of the current format. */
const BLOCK_HASH = blockHashOf(FORMAT_VERSION);

/** Written bytes that trigger a background fdatasync while the image is still being encoded. */
const BACKGROUND_FLUSH_BYTES = 16 * 1024 * 1024;
/** The same for direct writes, which leave no page cache to write back: only the disk's cache and the extents. */
const DIRECT_FLUSH_BYTES = 64 * 1024 * 1024;

export interface ImageHeaderInfo {
  job: string;
  sequence: number;
  attempt: number;
  createdAt: Date;
  meta: Record<string, unknown>;
  /** What made the image (its code, args, cr); null when the caller does not know it. */
  identity?: JobIdentity | null;
}

export interface WrittenImage {
  manifest: Manifest;
  /** Bytes of the whole file. */
  bytes: number;
  /** Raw bytes of all sections. */
  rawBytes: number;
  /** Raw bytes of the blocks shared with older images (0 for a full image). */
  sharedBytes: number;
  /** What the plan came to, per input section. */
  sections: SectionOutcome[];
}

/** The bytes of blocks [first, first + count) of a section: from staging when it was staged. */
function blockSource(input: SectionInput, first: number, count: number, blockSize: number): Uint8Array {
  const begin = first * blockSize;
  const end = Math.min(inputLength(input), (first + count) * blockSize);
  if (!input.staged) return input.data.subarray(begin, end);
  const { memory, slots } = input.staged;
  const at = slots[first]!;
  // Blocks that are written are staged, and consecutive ones sit side by side.
  if (at < 0 || slots[first + count - 1] !== at + (count - 1) * blockSize) {
    throw new Error(`internal error: blocks ${first}..${first + count - 1} of ${input.kind} "${input.name}" are not staged together`);
  }
  return memory.subarray(at, at + (end - begin));
}

export interface ImageWriterOptions {
  codec: BlockCodec;
  key: Buffer;
  /** zstd level. Default 1 (docs/image-format.md). */
  level: number;
  /** Block size in bytes, a power of two ≤ 1 MiB. */
  blockSize: number;
  /** Blocks encoded per batch; two batches are in memory at once. */
  batchBlocks: number;
  /** Free text recorded as the manifest's `writer`. */
  writerName: string;
  /**
   * Images written while the job computes: encoding yields to the job's thread (the addon's
   * lower-priority threads). Default false.
   */
  background?: boolean;
}

/** How `write` may write the file's blocks directly: `path` names the file its handle has open. */
export interface DirectWrite {
  path: string;
  /** Raw bytes to encode below which the image is written buffered. Default DIRECT_MIN_BYTES. */
  minBytes?: number;
}

/**
 * Below this many raw bytes to write, direct writes gain nothing worth a second descriptor and
 * their staging (a small image's page-cache copy costs little): the image is written buffered.
 */
export const DIRECT_MIN_BYTES = 16 * 1024 * 1024;

/** Reusable: its staging memory is allocated once and serves every image it writes. */
export class ImageWriter {
  readonly #options: ImageWriterOptions;
  readonly #encoders: [BlockEncoder, BlockEncoder];
  /** Page-aligned staging of direct writes, allocated on the first one. */
  readonly #staging = new DirectStaging();
  /** Where small buffered writes gather (GatheredWrites), allocated on the first image. */
  #gather: Buffer | null = null;

  constructor(options: ImageWriterOptions) {
    // Refuse here what the reader would refuse later: an image that can never be restored.
    if (!Number.isInteger(options.level) || options.level < MIN_LEVEL || options.level > MAX_LEVEL) {
      throw new RangeError(`level must be a whole number from ${MIN_LEVEL} to ${MAX_LEVEL}, got ${options.level}`);
    }
    const bs = options.blockSize;
    if (!Number.isInteger(bs) || bs < MIN_BLOCK_SIZE || bs > MAX_BLOCK_SIZE || (bs & (bs - 1)) !== 0) {
      throw new RangeError(`blockSize must be a power of two from ${MIN_BLOCK_SIZE} to ${MAX_BLOCK_SIZE} bytes, got ${bs}`);
    }
    if (!Number.isInteger(options.batchBlocks) || options.batchBlocks < 1) {
      throw new RangeError(`batchBlocks must be a positive whole number, got ${options.batchBlocks}`);
    }
    this.#options = options;
    this.#encoders = [
      options.codec.createEncoder(options.blockSize, options.batchBlocks, { background: options.background === true }),
      options.codec.createEncoder(options.blockSize, options.batchBlocks, { background: options.background === true }),
    ];
  }

  get blockSize(): number {
    return this.#options.blockSize;
  }

  /** What another thread needs to build a writer that writes the same images (its codec by name). */
  get settings(): Omit<ImageWriterOptions, 'codec'> & { codec: BlockCodec['name'] } {
    return { ...this.#options, codec: this.#options.codec.name };
  }

  /**
   * Writes the whole image at position 0 of `file`; the caller makes it durable (fsync, rename).
   * With a `plan` that has a parent, the image is incremental: the blocks the plan shares
   * (planImage, sharedBlock) are not written again.
   * With `direct`, the blocks go to the disk through a second, O_DIRECT descriptor of the same
   * file where the file system offers it (DirectSink); the bytes of the image are the same.
   */
  async write(file: FileHandle, header: ImageHeaderInfo, inputs: SectionInput[], plan: ImagePlan | null = null, direct: DirectWrite | null = null): Promise<WrittenImage> {
    const { blockSize, batchBlocks, level } = this.#options;
    const headerBytes = Buffer.alloc(HEADER_LENGTH);
    HEADER_MAGIC.copy(headerBytes, 0);
    headerBytes.writeUInt32LE(FORMAT_VERSION, 8);
    headerBytes.writeUInt32LE(0, 12);
    let rawBytes = 0;

    const sections: Section[] = inputs.map((input) => describeSection(input));
    const parent = plan?.parent ?? null;
    const bases = new Set<number>();
    let sharedBytes = 0;
    const outcomes: SectionOutcome[] = [];
    // Each chunk is a run of up to one batch of written blocks of one section.
    const chunks: { section: number; first: number; count: number }[] = [];
    for (const [i, input] of inputs.entries()) {
      const blockCount = Math.ceil(inputLength(input) / blockSize);
      const blocks = sections[i]!.blocks;
      blocks.length = blockCount;
      const sectionPlan = plan?.sections[i] ?? null;
      const base = parent !== null && sectionPlan !== null && sectionPlan.base !== null ? parent.sections[sectionPlan.base]! : null;
      // Whether a block is shared may take its hash: the staged section must be all in place.
      if (base !== null) await inPlace(input, 0, blockCount);
      let written = 0;
      let run = -1;
      for (let b = 0; b <= blockCount; b++) {
        const shared =
          b < blockCount && base !== null
            ? sharedBlock(sectionPlan!, base, parent!.sequence, b, () => hashToHex(this.#options.codec.blockHash(blockSource(input, b, 1, blockSize), BLOCK_HASH)))
            : null;
        if (shared !== null) {
          blocks[b] = blockTuple(shared);
          bases.add(shared.base!);
          sharedBytes += shared.rawLength;
        } else if (b < blockCount) {
          written++;
        }
        const end = b === blockCount || shared !== null;
        if (!end && run < 0) run = b;
        if (run >= 0 && (end || b - run === batchBlocks)) {
          chunks.push({ section: i, first: run, count: b - run });
          run = end ? -1 : b;
        }
      }
      outcomes.push(sectionOutcome(input, sectionPlan, blockCount, written));
      rawBytes += inputLength(input);
    }
    // Chunk k is encoded by encoder k % 2. Both encoders are kept busy: chunk k + 2 is started
    // as soon as chunk k's stored bytes are taken (copied into the direct sink, or written),
    // so the pool always has the next chunk queued while the JS side writes.
    const encodes: (Promise<EncodedBatch> | null)[] = [null, null];
    const encode = (k: number): void => {
      if (k >= chunks.length) return;
      const c = chunks[k]!;
      const input = inputs[c.section]!;
      const run = (): Promise<EncodedBatch> => this.#encoders[k % 2]!.encode(blockSource(input, c.first, c.count, blockSize), sections[c.section]!.elementSize, level, BLOCK_HASH);
      // A staged chunk may still be on its way into staging memory (sections.ts, inPlace).
      const copying = inPlace(input, c.first, c.count);
      encodes[k % 2] = copying === null ? run() : copying.then(run);
    };
    const settle = async (): Promise<void> => {
      // Let the encoders in flight finish before the caller reuses this writer.
      await Promise.all(encodes.map((e) => e?.catch(() => undefined)));
    };
    let toWrite = 0;
    for (const c of chunks) toWrite += Math.min(inputLength(inputs[c.section]!), (c.first + c.count) * blockSize) - c.first * blockSize;
    const sink = direct && toWrite >= (direct.minBytes ?? DIRECT_MIN_BYTES) ? await DirectSink.open(direct.path, this.#staging) : null;
    let position = 0;
    // Flush written data to disk in the background while later blocks encode, so that the
    // caller's final fsync has little left to do: buffered data still has to be written back;
    // direct writes sit in the disk's cache (a virtual disk's: the host's page cache) and the
    // extents they filled are not yet committed.
    let flushing: Promise<void> | null = null;
    const gather = new GatheredWrites(file, (this.#gather ??= Buffer.allocUnsafe(GATHER_BYTES)));
    try {
      if (sink) await sink.append([headerBytes]);
      else await writeFully(file, [headerBytes], 0);
      position = HEADER_LENGTH;
      encode(0);
      encode(1);
      let flushError: unknown = null;
      let unflushed = 0;
      for (let k = 0; k < chunks.length; k++) {
        const batch = await encodes[k % 2]!;
        encodes[k % 2] = null;
        const chunk = chunks[k]!;
        const blocks = sections[chunk.section]!.blocks;
        const buffers: Uint8Array[] = [];
        let at = position;
        for (let i = 0; i < batch.count; i++) {
          const stored = batch.storedLengths[i]!;
          buffers.push(batch.stored.subarray(i * batch.stride, i * batch.stride + stored));
          blocks[chunk.first + i] = blockTuple({
            offset: at,
            storedLength: stored,
            rawLength: batch.rawLengths[i]!,
            flags: batch.flags[i]!,
            storedHash: hashToHex(batch.storedHashes[i]!),
            rawHash: hashToHex(batch.rawHashes[i]!),
            base: null,
          });
          at += stored;
        }
        if (sink) await sink.append(buffers);
        else await gather.write(buffers, at - position, position);
        unflushed += at - position;
        if (unflushed >= (sink ? DIRECT_FLUSH_BYTES : BACKGROUND_FLUSH_BYTES) && flushing === null) {
          unflushed = 0;
          flushing = file
            .datasync()
            .catch((err: unknown) => {
              flushError ??= err;
            })
            .finally(() => {
              flushing = null;
            });
        }
        position = at;
        encode(k + 2);
      }
      await gather.flush();
      await flushing;
      if (flushError !== null) throw flushError;
    } catch (err) {
      await settle();
      await (flushing as Promise<void> | null)?.catch(() => undefined);
      await sink?.close();
      throw err;
    }

    const manifest: Manifest = {
      format: FORMAT_VERSION,
      id: imageId(header.job, header.sequence),
      job: header.job,
      sequence: header.sequence,
      parent: parent !== null && bases.size > 0 ? parent.id : null,
      bases: [...bases].sort((a, b) => a - b),
      attempt: header.attempt,
      createdAt: header.createdAt.toISOString(),
      codec: 'zstd',
      level,
      blockSize,
      writer: this.#options.writerName,
      sections,
      meta: header.meta,
      identity: header.identity ?? null,
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest), 'utf8');
    const footer = Buffer.alloc(FOOTER_LENGTH);
    footer.writeBigUInt64LE(BigInt(position), 0);
    footer.writeBigUInt64LE(BigInt(manifestBytes.length), 8);
    footer.writeBigUInt64LE(this.#options.codec.hash64(manifestBytes), 16);
    imageTag(this.#options.key, headerBytes, footer, manifestBytes).copy(footer, 24);
    FOOTER_MAGIC.copy(footer, 56);
    // The direct sink wrote every whole aligned piece; the rest of its bytes go with the manifest.
    const rest = sink ? await sink.finish() : { tail: new Uint8Array(0), position };
    await writeFully(file, [rest.tail, manifestBytes, footer], rest.position);
    return { manifest, bytes: position + manifestBytes.length + FOOTER_LENGTH, rawBytes, sharedBytes, sections: outcomes };
  }
}

/** HMAC-SHA256 over header ‖ footer[0, 24) ‖ manifest: what the footer's tag holds. */
export function imageTag(key: Buffer, header: Uint8Array, footer: Uint8Array, manifest: Uint8Array): Buffer {
  return createHmac('sha256', key).update(header).update(footer.subarray(0, 24)).update(manifest).digest();
}

/**
 * Buffered writes below this size are gathered into one write of up to this size: an image of
 * many small states would otherwise make a write, and its round trip through libuv's threads,
 * per state.
 */
const GATHER_BYTES = 1024 * 1024;

/** Consecutive small writes of stored bytes, copied into `buffer` and written together. */
class GatheredWrites {
  readonly #file: FileHandle;
  readonly #buffer: Buffer;
  #length = 0;
  /** The file position of the buffer's first byte. */
  #position = 0;

  constructor(file: FileHandle, buffer: Buffer) {
    this.#file = file;
    this.#buffer = buffer;
  }

  /** Writes `buffers` (`bytes` in all) at `position`, which follows the previous write's end. */
  async write(buffers: Uint8Array[], bytes: number, position: number): Promise<void> {
    if (this.#length + bytes > this.#buffer.length || bytes > this.#buffer.length / 4) await this.flush();
    if (bytes > this.#buffer.length / 4) return writeFully(this.#file, buffers, position);
    if (this.#length === 0) this.#position = position;
    for (const b of buffers) {
      this.#buffer.set(b, this.#length);
      this.#length += b.length;
    }
  }

  async flush(): Promise<void> {
    if (this.#length === 0) return;
    const length = this.#length;
    this.#length = 0;
    await writeFully(this.#file, [this.#buffer.subarray(0, length)], this.#position);
  }
}

/** writev until every byte is down: a short write (possible on a nearly full disk) is retried. */
async function writeFully(file: FileHandle, buffers: Uint8Array[], position: number): Promise<void> {
  let list = buffers.filter((b) => b.length > 0);
  while (list.length > 0) {
    const { bytesWritten } = await file.writev(list, position);
    position += bytesWritten;
    let skip = bytesWritten;
    const rest: Uint8Array[] = [];
    for (const b of list) {
      if (skip >= b.length) {
        skip -= b.length;
      } else {
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    if (bytesWritten === 0 && rest.length > 0) throw new Error('write made no progress');
    list = rest;
  }
}
