// One upload of one image, as it arrives: on one stream (the whole image) or as several parts on
// several connections at once, each a byte range written where it belongs (pwrite at its offset)
// into the one temp file that image-uploads.ts commits. The parts are independent until the
// last one is in; any part that goes wrong (a range that overlaps another or passes the image's
// size, a wrong sha256, a dropped connection, a part that never comes) fails the whole upload, so
// the commit's temp file is removed and nothing is linked. Only when every byte is in, and each
// part's sha256 matched, does the commit go on to the fencing check and the verification, once
// for the whole image.
//
// A part of at least `directMinBytes` whose range starts on a page boundary is written through
// an O_DIRECT descriptor from page-aligned staging (src/image/direct-sink.ts), while a staging
// of the store's pool is free: its bytes go to the disk by DMA, with no page-cache pages to
// allocate and write back, which costs more CPU than the rest of the upload (buffered writes
// into fresh memory take tens of times the system CPU per MiB of direct ones). Other parts, and file systems without O_DIRECT, are written through the page cache.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { type BlockCodec, DIRECT_MIN_BYTES, DirectSink } from '../../src/internal.js';
import type { DirectStagingPool } from '../direct-staging-pool.js';
import { PassingBlocks } from '../passing-blocks.js';
import { bufferedPartWriter, directPartWriter, DiskError, type PartWriter } from './part-writer.js';
import { range, type PartHeader, type PartMessage } from './part-header.js';
import { Refused } from './upload-outcome.js';

/** An upload that gets no byte (and no new part) for this long fails: a part never came. */
export const UPLOAD_IDLE_TIMEOUT_MS = 30_000;
/** Bytes written after which an fdatasync of the temp file starts behind the writes. */
export const FLUSH_BEHIND_BYTES = 32 << 20;

/**
 * An upload slower than this, averaged over UPLOAD_RATE_WINDOW_MS, is cut (`--min-upload-rate`):
 * a sender that trickles cannot hold a temp file and a connection for ever.
 */
export const MIN_UPLOAD_BYTES_PER_S = 1 << 20;
export const UPLOAD_RATE_WINDOW_MS = 30_000;

export interface UploadOptions {
  /** An upload that gets no byte (and no new part) for this long fails, ms. */
  idleMs: number;
  /** Bytes written through the page cache after which an fdatasync starts behind the writes. */
  flushBehindBytes?: number;
  /** Staging for direct writes (null: every part through the page cache). */
  direct?: DirectStagingPool | null;
  /** Parts smaller than this are written through the page cache. */
  directMinBytes?: number;
  /** Hashes the blocks that the first header's tail lists as their bytes pass. */
  codec: BlockCodec;
  /** Cut when fewer bytes than this per second arrive over `rateWindowMs` (defaults above). */
  minBytesPerS?: number;
  rateWindowMs?: number;
}

/** The commit's temp file, open for the parts to write into. */
export interface UploadFile {
  handle: FileHandle;
  path: string;
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export class Upload {
  readonly id: string;
  readonly attempt: number;
  readonly node: string;
  readonly bytes: number;
  readonly parts: number;
  readonly #what: string;
  readonly #idleMs: number;
  readonly #flushEvery: number;
  readonly #direct: DirectStagingPool | null;
  readonly #directMinBytes: number;
  readonly #declared = new Map<number, { offset: number; length: number; sha256: string | null }>();
  readonly #file = deferred<UploadFile>();
  readonly #allIn = deferred<void>();
  #failure: Refused | null = null;
  /** All bytes are in: from here on the commit decides, and no part can fail the upload. */
  #sealed = false;
  #timer: NodeJS.Timeout | null = null;
  #rateTimer: NodeJS.Timeout | null = null;
  /** Bytes received since the rate was last checked, and in all. */
  #recent = 0;
  #received = 0;
  #unflushed = 0;
  #flushing: Promise<void> | null = null;
  #flushError: Error | null = null;
  #wroteDirect = false;
  readonly #passing: PassingBlocks | null;
  /** Resolves when the upload fails: a part waiting for its sender's next message stops waiting. */
  readonly #stopped = deferred<typeof STOPPED>();

  constructor(first: PartHeader, what: string, options: UploadOptions) {
    this.id = first.uploadId;
    this.attempt = first.attempt;
    this.node = first.node;
    this.bytes = first.bytes;
    this.parts = first.parts;
    this.#what = what;
    this.#idleMs = options.idleMs;
    this.#flushEvery = options.flushBehindBytes ?? FLUSH_BEHIND_BYTES;
    this.#direct = options.direct ?? null;
    this.#directMinBytes = options.directMinBytes ?? DIRECT_MIN_BYTES;
    this.#passing = first.tail === null ? null : PassingBlocks.fromTail(options.codec, first.tail, first.bytes);
    this.#touch();
    this.#watchRate(options.minBytesPerS ?? MIN_UPLOAD_BYTES_PER_S, options.rateWindowMs ?? UPLOAD_RATE_WINDOW_MS);
  }

  /**
   * Every window, the bytes that arrived in it (all parts together) must reach the minimum
   * rate, or the upload is cut: its parts end, its temp file is removed, its staging returns.
   * A last window shorter than the image needs is not held against it: sealed uploads stop the check.
   */
  #watchRate(minBytesPerS: number, windowMs: number): void {
    if (minBytesPerS <= 0) return;
    const perWindow = Math.ceil((minBytesPerS * windowMs) / 1000);
    let left = this.bytes;
    this.#rateTimer = setInterval(() => {
      const got = this.#recent;
      this.#recent = 0;
      // The window's share, or what was left of the image when it began (a short last window).
      const needed = Math.min(perWindow, left);
      left = this.bytes - this.#received;
      if (got >= needed) return;
      this.fail(
        new Refused(
          false,
          `${this.#what}: ${got} bytes arrived in the last ${windowMs / 1000} s, below the scheduler's minimum upload rate of ${minBytesPerS} bytes/s (--min-upload-rate, --upload-rate-window): upload cut, its staging freed`,
          'DEADLINE_EXCEEDED',
        ),
      );
    }, windowMs);
    this.#rateTimer.unref();
  }

  /** The commit's temp file is open: parts may write. */
  opened(file: UploadFile): void {
    this.#file.resolve(file);
  }

  /** Resolves when every part is in whole; rejects with the reason the upload failed. */
  get allIn(): Promise<void> {
    return this.#allIn.promise;
  }

  /** The blocks hashed as their bytes passed (null: the first header sent no usable tail). */
  get passing(): PassingBlocks | null {
    return this.#passing;
  }

  /** True when some part was written directly (O_DIRECT): the file is not in the page cache. */
  get direct(): boolean {
    return this.#wroteDirect;
  }

  /** The sha256 of the one part of a one-part upload (the whole image's). */
  get onlySha256(): string | null {
    return this.parts === 1 ? (this.#declared.get(0)?.sha256 ?? null) : null;
  }

  fail(reason: Refused): void {
    if (this.#failure !== null || this.#sealed) return;
    this.#failure = reason;
    this.#stopped.resolve(STOPPED);
    this.#stopTimer();
    this.#allIn.reject(reason);
    // Parts waiting for the temp file (its commit may never open one) stop waiting.
    this.#file.reject(reason);
  }

  /** Ends the idle timer; called when the upload is over either way. */
  close(): void {
    this.#stopTimer();
  }

  /**
   * Receives one part's chunks and trailer into its range. Resolves when this part is in whole;
   * a failure fails the whole upload (and is thrown here too).
   */
  async receive(part: PartHeader, messages: AsyncIterable<PartMessage>): Promise<void> {
    try {
      this.#declare(part);
      const file = await this.#file.promise;
      // Taken at the first chunk, so that a stream that sends only its header holds no staging.
      let writer: PartWriter | null = null;
      const passing = this.#passing?.stream(part.offset) ?? null;
      const hash = createHash('sha256');
      let written = 0;
      let trailer: string | null = null;
      const label = this.parts === 1 ? 'the upload' : `part ${part.part} of ${this.parts} (${range(part.offset, part.length)})`;
      try {
        try {
          const iterator = messages[Symbol.asyncIterator]();
          for (;;) {
            // A failed upload (another part's failure, the idle timeout) ends this part at once,
            // whatever its sender does: its staging goes back, its reply goes out.
            const next = iterator.next();
            next.catch(() => undefined);
            const step = await Promise.race([next, this.#stopped.promise]);
            if (step === STOPPED) throw this.#failure!;
            if (step.done) break;
            const message = step.value;
            if (this.#failure) throw this.#failure;
            if (message.chunk) {
              if (trailer !== null) throw new Refused(false, `${label}: a chunk after the trailer`);
              if (written + message.chunk.length > part.length) {
                throw new Refused(false, this.parts === 1 ? `more than the ${this.bytes} bytes announced` : `${label}: more than its ${part.length} bytes`);
              }
              hash.update(message.chunk);
              passing?.pass(message.chunk);
              writer ??= await this.#writer(file, part);
              await writer.write(message.chunk, part.offset + written);
              written += message.chunk.length;
              this.#recent += message.chunk.length;
              this.#received += message.chunk.length;
              this.#touch();
            } else if (message.sha256 !== undefined) {
              trailer = message.sha256;
            }
          }
        } catch (err) {
          if (err instanceof Refused) throw err;
          if (err instanceof DiskError) throw this.#diskFailed(err.cause);
          throw new Refused(false, `${label}: the connection dropped after ${written} of ${part.length} bytes (${(err as Error).message})`);
        }
        if (this.#failure) throw this.#failure;
        if (trailer === null) throw new Refused(false, `${label} ended after ${written} of ${part.length} bytes without its trailer (the sender stopped mid-image)`);
        if (written !== part.length) throw new Refused(false, this.parts === 1 ? `received ${written} bytes, ${this.bytes} announced` : `${label}: received ${written} bytes, ${part.length} announced`);
        // Every byte of the part is written (the direct writes ended) before the part counts as in.
        await writer?.finish().catch((err: Error) => {
          throw this.#diskFailed(err);
        });
      } finally {
        await writer?.close();
      }
      const sha256 = hash.digest('hex');
      if (trailer !== sha256) throw new Refused(false, `${this.parts === 1 ? '' : `${label}: `}sha256 mismatch: sent ${trailer}, received ${sha256}`);
      this.#declared.get(part.part)!.sha256 = sha256;
      if ([...this.#declared.values()].filter((p) => p.sha256 !== null).length === this.parts) {
        // Ranges never overlap and never pass the size (checked as declared), so parts whose
        // lengths add up to the size cover every byte exactly once.
        const total = [...this.#declared.values()].reduce((sum, p) => sum + p.length, 0);
        if (total !== this.bytes) throw new Refused(false, `the ${this.parts} parts hold ${total} bytes, ${this.bytes} announced`);
        this.#sealed = true;
        this.#stopTimer();
        this.#allIn.resolve();
      }
    } catch (err) {
      const reason = err instanceof Refused ? err : new Refused(false, (err as Error).message);
      this.fail(reason);
      throw this.#failure ?? reason;
    }
  }

  /** How one part's bytes reach the temp file: direct when it can, else through the page cache. */
  async #writer(file: UploadFile, part: PartHeader): Promise<PartWriter> {
    const staging = part.length >= this.#directMinBytes ? (this.#direct?.take() ?? null) : null;
    if (staging !== null) {
      let sink: DirectSink | null = null;
      try {
        sink = await DirectSink.open(file.path, staging, part.offset);
      } finally {
        if (sink === null) this.#direct!.give(staging);
      }
      if (sink !== null) {
        this.#wroteDirect = true;
        return directPartWriter(file.handle, sink, () => this.#direct!.give(staging));
      }
    }
    return bufferedPartWriter(file.handle, (bytes) => this.#flushBehind(file.handle, bytes));
  }

  /**
   * Waits for the flush behind the writes, if one is running. Its failure is the upload's: the
   * kernel reports a write-back error once per open file, so the commit's own fsync after it
   * would succeed on bytes that never reached the disk.
   */
  async flushed(): Promise<void> {
    await this.#flushing;
    if (this.#flushError) throw this.#diskFailed(this.#flushError);
  }

  /**
   * Starts an fdatasync of what is written so far every FLUSH_BEHIND_BYTES (by default), one at a
   * time, while the rest still arrives: the disk writes while the network brings the next bytes,
   * and the commit's fsync (still before the link, whatever these did) has only the tail left. A
   * handle closed while one runs waits for it (FileHandle.close does).
   */
  #flushBehind(handle: FileHandle, bytes: number): void {
    this.#unflushed += bytes;
    if (this.#unflushed < this.#flushEvery || this.#flushing !== null || this.#flushError !== null) return;
    this.#unflushed = 0;
    this.#flushing = handle.datasync().then(
      () => void (this.#flushing = null),
      (err: Error) => {
        this.#flushing = null;
        this.#flushError = err;
        this.fail(this.#diskFailed(err));
      },
    );
  }

  #diskFailed(err: Error): Refused {
    return new Refused(false, `${this.#what}: writing it to disk failed: ${err.message}`, undefined, err);
  }

  #declare(part: PartHeader): void {
    if (this.#failure) throw this.#failure;
    if (this.#sealed) throw new Refused(false, `part ${part.part} of ${this.#what} arrived after all ${this.parts} parts were in`);
    if (part.attempt !== this.attempt || part.node !== this.node || part.bytes !== this.bytes || part.parts !== this.parts) {
      throw new Refused(
        false,
        `part ${part.part} does not match the upload it names (attempt ${part.attempt}, node ${JSON.stringify(part.node)}, ${part.bytes} bytes, ${part.parts} parts; ` +
          `the upload: attempt ${this.attempt}, node ${JSON.stringify(this.node)}, ${this.bytes} bytes, ${this.parts} parts)`,
      );
    }
    if (this.#declared.has(part.part)) throw new Refused(false, `part ${part.part} of ${this.#what} was sent twice`);
    for (const [index, other] of this.#declared) {
      if (part.offset < other.offset + other.length && other.offset < part.offset + part.length) {
        throw new Refused(false, `part ${part.part} (${range(part.offset, part.length)}) overlaps part ${index} (${range(other.offset, other.length)})`);
      }
    }
    this.#declared.set(part.part, { offset: part.offset, length: part.length, sha256: null });
    this.#touch();
  }

  #touch(): void {
    if (this.#sealed || this.#failure) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      const missing = [...Array(this.parts).keys()].filter((i) => !this.#declared.has(i));
      const stalled = [...this.#declared].filter(([, p]) => p.sha256 === null).map(([i]) => i);
      const why = missing.length > 0 ? `part${missing.length === 1 ? '' : 's'} ${missing.join(', ')} of ${this.parts} never arrived` : `part${stalled.length === 1 ? '' : 's'} ${stalled.join(', ')} stalled`;
      this.fail(new Refused(false, `${this.#what}: no bytes for ${this.#idleMs / 1000} s: ${why}`));
    }, this.#idleMs);
  }

  #stopTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#rateTimer) clearInterval(this.#rateTimer);
    this.#rateTimer = null;
  }
}

const STOPPED = Symbol('stopped');
