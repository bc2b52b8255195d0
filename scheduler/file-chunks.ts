// An image file read in chunks of about 1 MiB straight into the gRPC messages that carry them:
// the agent's uploads and the scheduler's downloads. Each chunk is read behind room for its
// `bytes` field's tag and length, so the buffer is the encoded message (no copy); the buffers of
// one stream are reused; and the next chunks are read while one is sent.
//
// Images are written with O_DIRECT (the library's writer, the scheduler's uploads), so they are
// not in the page cache, and reading them through it would allocate a page for every 4 KiB read
// once: on this kind of machine more CPU than the sha256 of the same bytes. A file of at least
// DIRECT_MIN_BYTES is therefore read through an O_DIRECT descriptor into page-aligned chunk
// buffers (DIRECT_ALIGN into the buffer, the field's head just before), where the file system
// offers it; without kernel read-ahead, the reader keeps READ_AHEAD reads in flight itself.
import fs from 'node:fs';
import { allocateRegion, DIRECT_ALIGN, DIRECT_MIN_BYTES, openDirect } from '../src/internal.js';
import { BYTES_FIELD_HEAD, CHUNK_BYTES } from './proto/load.js';

/** Chunk buffers one stream has at most, read or being sent: with 16 MiB HTTP/2 windows, enough to keep the connection busy. */
export const CHUNKS_IN_FLIGHT = 8;
/** Reads one stream keeps in flight ahead of the chunk being sent. */
export const READ_AHEAD = 2;

/** An image file open for reading in chunks. */
export class ChunkedFile {
  /** The O_DIRECT descriptor, where there is one. */
  readonly #direct: fs.promises.FileHandle | null;

  private constructor(
    readonly size: number,
    /** The ordinary descriptor (small reads: the footer, the tail). */
    readonly handle: fs.promises.FileHandle,
    direct: fs.promises.FileHandle | null,
  ) {
    this.#direct = direct;
  }

  static async open(file: string): Promise<ChunkedFile> {
    const handle = await fs.promises.open(file, 'r');
    try {
      const { size } = await handle.stat();
      return new ChunkedFile(size, handle, size >= DIRECT_MIN_BYTES ? await openDirect(file, fs.constants.O_RDONLY) : null);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** Chunks are read through O_DIRECT into page-aligned buffers. */
  get direct(): boolean {
    return this.#direct !== null;
  }

  /**
   * Reads up to `length` bytes at `position` into `buffer` at `at`. Through O_DIRECT when the
   * position is on a page boundary (buffers of a direct file put `at` on one), asking for whole
   * pages (the file's end, or the cap at `length`, cuts the rest); a byte range that starts
   * elsewhere is read through the page cache.
   */
  async read(buffer: Buffer, at: number, length: number, position: number): Promise<number> {
    if (this.#direct !== null && position % DIRECT_ALIGN === 0) {
      const asked = Math.ceil(length / DIRECT_ALIGN) * DIRECT_ALIGN;
      return Math.min(length, (await this.#direct.read(buffer, at, asked, position)).bytesRead);
    }
    return (await this.handle.read(buffer, at, length, position)).bytesRead;
  }

  async close(): Promise<void> {
    await this.#direct?.close();
    await this.handle.close();
  }
}

/**
 * The chunk buffers of one stream, reused. A buffer goes back once grpc-js calls its write back,
 * which it does only after HTTP/2 has taken the framed copy it made of the message (the
 * transfer channels keep no retry buffer, through which grpc-js would call back as soon as it
 * had queued the message: see transferClients). A fresh 1 MiB buffer per chunk cost more than
 * the copy itself on this kind of machine: page faults into new memory, and the garbage
 * collections that the external memory sets off.
 */
export class ChunkBuffers {
  readonly #free: Buffer[] = [];
  readonly #waiting: (() => void)[] = [];
  #made = 0;

  constructor(
    readonly direct: boolean,
    readonly ended: Promise<void>,
    readonly isEnded: () => boolean,
  ) {}

  /** Where a chunk's data starts in each buffer. */
  get start(): number {
    return this.direct ? DIRECT_ALIGN : BYTES_FIELD_HEAD;
  }

  /** A buffer of `start` + CHUNK_BYTES, or null once the stream has ended. */
  async take(): Promise<Buffer | null> {
    for (;;) {
      if (this.isEnded()) return null;
      const buffer = this.#free.pop();
      if (buffer !== undefined) return buffer;
      if (this.#made < CHUNKS_IN_FLIGHT) {
        this.#made++;
        if (!this.direct) return Buffer.allocUnsafe(BYTES_FIELD_HEAD + CHUNK_BYTES);
        // Released by the garbage collector (never freed here: a cancelled call's pending
        // message may still be copied out of it by grpc-js).
        const memory = allocateRegion('cr:transfer-chunk', Uint8Array, DIRECT_ALIGN + CHUNK_BYTES).bytes;
        return Buffer.from(memory.buffer, memory.byteOffset, memory.byteLength);
      }
      await Promise.race([new Promise<void>((resolve) => this.#waiting.push(resolve)), this.ended]);
    }
  }

  give(buffer: Buffer): void {
    this.#free.push(buffer);
    this.#waiting.shift()?.();
  }
}

/** One chunk read: its data is `buffer[at, at + bytes)`, at file position `position`. */
export interface Chunk {
  buffer: Buffer;
  at: number;
  bytes: number;
  position: number;
}

/**
 * The chunks of [start, end) of `file`, in order, each read into a buffer of `buffers`, up to
 * READ_AHEAD of them read ahead of the one asked for. `next` gives null at the end, or once the
 * stream has ended (then reads still in flight finish into buffers no one uses).
 */
export class ChunkReader {
  readonly #file: ChunkedFile;
  readonly #buffers: ChunkBuffers;
  readonly #end: number;
  #position: number;
  readonly #reads: Promise<Chunk | null>[] = [];

  constructor(file: ChunkedFile, buffers: ChunkBuffers, start: number, end: number) {
    this.#file = file;
    this.#buffers = buffers;
    this.#position = start;
    this.#end = end;
  }

  async next(): Promise<Chunk | null> {
    this.#readAhead();
    const chunk = (await this.#reads.shift()) ?? null;
    if (chunk !== null) this.#readAhead();
    return chunk;
  }

  #readAhead(): void {
    while (this.#reads.length <= READ_AHEAD && this.#position < this.#end) {
      const read = this.#read();
      // Awaited in turn by next(); a failure of one not awaited yet must not go unhandled.
      read.catch(() => undefined);
      this.#reads.push(read);
    }
  }

  /** Reads the next chunk (its position is taken when the read starts, so chunks come in order). */
  async #read(): Promise<Chunk | null> {
    const position = this.#position;
    const want = Math.min(CHUNK_BYTES, this.#end - position);
    this.#position += want;
    const buffer = await this.#buffers.take();
    if (buffer === null) return null;
    const at = this.#buffers.start;
    const bytes = await this.#file.read(buffer, at, want, position);
    if (bytes < want) throw new Error('the image file shrank while it was sent');
    return { buffer, at, bytes, position };
  }
}
