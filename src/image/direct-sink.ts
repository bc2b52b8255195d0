// The image writer's direct path (docs/image-format.md, "Write pipeline"): the image's bytes
// from position 0 on are gathered into page-aligned staging memory and written through a second
// descriptor of the same file opened with O_DIRECT, in aligned pieces, two in flight. The bytes
// go from staging to the disk by DMA: no copy into the page cache, no page-cache pages to
// allocate and write back, which can cost more CPU than zstd does. The unaligned
// tail is left for the caller to write through its ordinary descriptor, and the caller's fsync
// still makes the file durable (O_DIRECT does not write the file's size or extents).
import fsp, { type FileHandle } from 'node:fs/promises';
import fs from 'node:fs';
import { loadNative } from '../native/binding.js';
import { allocateRegion, type RegionMemory } from '../region.js';

/** Offsets, lengths and memory of direct writes are multiples of this (the page size covers any disk's logical block). */
export const DIRECT_ALIGN = 4096;
/** Bytes per direct write; two such buffers are staged, one filling while the other is written. */
export const DIRECT_CHUNK = 8 * 1024 * 1024;

/**
 * `file` opened (again) with O_DIRECT and `flags`; null where there is no O_DIRECT, no addon (only
 * its memory is page-aligned, as direct reads and writes need) or the file system refuses it
 * (EINVAL: tmpfs).
 */
export async function openDirect(file: string, flags: number): Promise<FileHandle | null> {
  const O_DIRECT = fs.constants.O_DIRECT;
  if (O_DIRECT === undefined || loadNative().binding === null) return null;
  try {
    return await fsp.open(file, flags | O_DIRECT);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EINVAL') return null;
    throw err;
  }
}

/** Reusable page-aligned staging for DirectSink (two buffers) or a copy (more): allocated once per writer, on first use. */
export class DirectStaging {
  #buffers: RegionMemory[] | null = null;

  constructor(readonly count = 2) {}

  get buffers(): Uint8Array[] {
    this.#buffers ??= Array.from({ length: this.count }, () => allocateRegion('cr:direct-write', Uint8Array, DIRECT_CHUNK));
    return this.#buffers.map((b) => b.bytes);
  }

  free(): void {
    for (const b of this.#buffers ?? []) b.free();
    this.#buffers = null;
  }
}

export class DirectSink {
  readonly #handle: FileHandle;
  readonly #buffers: Uint8Array[];
  /** The buffer being filled, and how many bytes it holds. */
  #current = 0;
  #filled = 0;
  /** File position of the current buffer's first byte. */
  #base = 0;
  /** The write in flight from each buffer, if any. */
  readonly #writes: (Promise<void> | null)[] = [null, null];
  #failed: unknown = null;

  private constructor(handle: FileHandle, buffers: Uint8Array[], position: number) {
    this.#handle = handle;
    this.#buffers = buffers;
    this.#base = position;
  }

  /**
   * Opens `file` (already created, to be written from `position` on, a multiple of DIRECT_ALIGN)
   * a second time with O_DIRECT; null where the file system does not offer it (EINVAL), where
   * the position is not aligned, or where staging would not be page-aligned memory (only the
   * addon's mmap guarantees that).
   */
  static async open(file: string, staging: DirectStaging, position = 0): Promise<DirectSink | null> {
    if (position % DIRECT_ALIGN !== 0) return null;
    const handle = await openDirect(file, fs.constants.O_WRONLY);
    return handle === null ? null : new DirectSink(handle, staging.buffers.slice(0, 2), position);
  }

  /** Bytes appended so far: the file position the next byte lands at. */
  get position(): number {
    return this.#base + this.#filled;
  }

  /**
   * Copies `parts` into staging, handing each full buffer to the disk; the caller may reuse the
   * parts' memory once this resolves. Waits only when both buffers are still being written.
   */
  async append(parts: Uint8Array[]): Promise<void> {
    for (const part of parts) {
      let at = 0;
      while (at < part.length) {
        const buffer = this.#buffers[this.#current]!;
        const n = Math.min(part.length - at, buffer.length - this.#filled);
        buffer.set(part.subarray(at, at + n), this.#filled);
        this.#filled += n;
        at += n;
        if (this.#filled === buffer.length) await this.#flip();
      }
    }
  }

  /**
   * Writes the aligned part of what is staged, waits for every write, and closes the direct
   * descriptor. Returns the bytes not written (fewer than DIRECT_ALIGN) and their position: the
   * caller writes them through its own descriptor.
   */
  async finish(): Promise<{ tail: Uint8Array; position: number }> {
    try {
      const aligned = this.#filled - (this.#filled % DIRECT_ALIGN);
      const buffer = this.#buffers[this.#current]!;
      if (aligned > 0) this.#start(this.#current, buffer.subarray(0, aligned), this.#base);
      await Promise.all(this.#writes);
      if (this.#failed !== null) throw this.#failed;
      // A copy: the staging is reused by the next image while the caller still writes the tail.
      return { tail: buffer.slice(aligned, this.#filled), position: this.#base + aligned };
    } finally {
      await this.close();
    }
  }

  /** Waits for the writes in flight (their errors are dropped: the image is abandoned) and closes. */
  async close(): Promise<void> {
    await Promise.all(this.#writes.map((w) => w?.catch(() => undefined)));
    await this.#handle.close().catch(() => undefined);
  }

  async #flip(): Promise<void> {
    const full = this.#current;
    this.#start(full, this.#buffers[full]!, this.#base);
    this.#base += this.#filled;
    this.#filled = 0;
    this.#current = 1 - full;
    const pending = this.#writes[this.#current];
    if (pending) await pending;
    if (this.#failed !== null) throw this.#failed;
  }

  #start(index: number, bytes: Uint8Array, position: number): void {
    const write = writeAll(this.#handle, bytes, position, DIRECT_ALIGN).then(
      () => {
        if (this.#writes[index] === write) this.#writes[index] = null;
      },
      (err: unknown) => {
        this.#failed ??= err;
        if (this.#writes[index] === write) this.#writes[index] = null;
      },
    );
    this.#writes[index] = write;
  }
}

/**
 * Writes all of `bytes` at `position`: a write that comes back short (a nearly full disk) is
 * continued from where it stopped. `align`: through an O_DIRECT descriptor (DIRECT_ALIGN), where
 * a short write must end on a block boundary.
 */
export async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number, align = 1): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    // A short direct write ends on a block boundary; one that did not would leave the rest
    // unaligned, which O_DIRECT refuses: report it rather than loop.
    if (bytesWritten % align !== 0 && done + bytesWritten < bytes.length) {
      throw Object.assign(new Error(`a direct write stopped at an unaligned ${bytesWritten} bytes`), { code: 'EIO' });
    }
    done += bytesWritten;
  }
}
