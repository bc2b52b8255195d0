// A shared image store in a POSIX directory every node mounts (NFS, Lustre, GPFS, or a local
// disk for one machine). A write goes to a temp name beside its object, is fsynced, then linked
// to its name (link, unlike rename, refuses to replace an object that exists) and the directory
// fsynced: a crash at any point leaves either no object or the whole one.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createFileOnceSync, DIRECT_ALIGN, DIRECT_CHUNK, DirectStaging, fsyncDir, openDirect, writeAll } from '../../src/internal.js';
import { DirectStagingPool } from '../direct-staging-pool.js';
import { digestFile, ImageDigest, PIECE_BYTES, type DigestKind } from './digest.js';
import { checkName, SharedStoreError, type SharedStore } from './store.js';

/** Written by the scheduler at the top of a directory store: a missing image is told from a missing mount by it. */
export const MARKER_FILE = '.cr-image-store';
/** Bytes read and written per step of a copy: one piece of the digest, which then hashes on a thread of its own. */
const COPY_BYTES = PIECE_BYTES;
// A direct copy's step is its staging's buffer, which must be one piece too.
if (DIRECT_CHUNK !== PIECE_BYTES) throw new Error('a direct copy step must be one digest piece');
/** Durable copies at once that write past the page cache; more go through it. */
const DIRECT_COPIES_AT_ONCE = 4;
/** Buffers per durable copy: one being read into while two are written (one write at a time left the disk idle between them). */
const DIRECT_COPY_BUFFERS = 3;
const STAGINGS = new DirectStagingPool(DIRECT_COPIES_AT_ONCE, DIRECT_COPY_BUFFERS);
/** Bytes written between the fdatasyncs behind a durable copy's writes. */
const FLUSH_BEHIND_BYTES = 32 << 20;

export class DirectoryStore implements SharedStore {
  readonly location: string;

  private constructor(readonly dir: string) {
    this.location = dir;
  }

  /**
   * The store at `dir`, which must exist and be a directory (it is shared: cr does not create its
   * mount point). `create` (the scheduler) marks it as a store with MARKER_FILE, if not yet.
   */
  static open(dir: string, options: { create?: boolean } = {}): DirectoryStore {
    const resolved = path.resolve(dir);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(resolved);
    } catch (err) {
      throw new SharedStoreError('CR_IMAGE_STORE_LOCATION', `image store ${resolved} cannot be used: ${(err as Error).message}; create the directory (on storage every node mounts) or name another with --images`);
    }
    if (!stat.isDirectory()) throw new SharedStoreError('CR_IMAGE_STORE_LOCATION', `image store ${resolved} is not a directory; name a directory every node mounts with --images`);
    if (options.create) {
      try {
        createFileOnceSync(path.join(resolved, MARKER_FILE), Buffer.from('a cr image store: images are job-N/SSSSSSSS-aA.crimg (docs/image-stores.md)\n'), 0o600);
      } catch (err) {
        throw new SharedStoreError('CR_IMAGE_STORE_LOCATION', `image store ${resolved} cannot be written: ${(err as Error).message}`);
      }
    }
    return new DirectoryStore(resolved);
  }

  #path(name: string): string {
    checkName(name);
    return path.join(this.dir, name);
  }

  async put(name: string, file: string): Promise<{ bytes: number; sha256: string }> {
    const target = this.#path(name);
    const dir = path.dirname(target);
    const temp = path.join(dir, `.${path.basename(target)}.${randomUUID()}.tmp`);
    let written: { bytes: number; sha256: string };
    try {
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      written = await copyHashed(file, temp, 'wx', true, 'pieces');
      try {
        // link, not rename: an object is never replaced.
        await fsp.link(temp, target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        // The same bytes are a retry of this put (its reply was lost); other bytes are refused.
        const existing = await digestFile(target, 'pieces');
        if (existing !== written.sha256) throw new SharedStoreError('CR_IMAGE_STORE_EXISTS', `${name} is already in image store ${this.dir} with other bytes; images are never replaced`);
      }
      await fsp.unlink(temp);
      await fsyncDir(dir);
    } catch (err) {
      await fsp.rm(temp, { force: true }).catch(() => undefined);
      throw failure(err, `writing ${name} to image store ${this.dir}`);
    }
    return written;
  }

  async fetch(name: string, file: string, kind: DigestKind): Promise<{ bytes: number; sha256: string }> {
    const source = this.#path(name);
    const temp = `${file}.${randomUUID()}.fetch`;
    try {
      await fsp.mkdir(path.dirname(file), { recursive: true });
      const got = await copyHashed(source, temp, 'wx', false, kind);
      await fsp.rename(temp, file);
      return got;
    } catch (err) {
      await fsp.rm(temp, { force: true }).catch(() => undefined);
      throw this.#failure(err, `reading ${name} from image store ${this.dir}`);
    }
  }

  async size(name: string): Promise<number | null> {
    try {
      const stat = await fsp.stat(this.#path(name));
      return stat.isFile() ? stat.size : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw failure(err, `looking for ${name} in image store ${this.dir}`);
    }
  }

  async read(name: string, position: number, length: number): Promise<Buffer> {
    let handle: fsp.FileHandle | null = null;
    try {
      handle = await fsp.open(this.#path(name), 'r');
      const buffer = Buffer.alloc(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return buffer.subarray(0, done);
    } catch (err) {
      throw this.#failure(err, `reading ${name} from image store ${this.dir}`);
    } finally {
      await handle?.close();
    }
  }

  async remove(names: readonly string[]): Promise<void> {
    const dirs = new Set<string>();
    for (const name of names) {
      const file = this.#path(name);
      try {
        await fsp.unlink(file);
        dirs.add(path.dirname(file));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw failure(err, `removing ${name} from image store ${this.dir}`);
      }
    }
    for (const dir of dirs) await fsyncDir(dir);
  }

  async removeAll(prefix: string): Promise<void> {
    try {
      await fsp.rm(this.#path(prefix), { recursive: true, force: true });
      await fsyncDir(this.dir);
    } catch (err) {
      throw failure(err, `removing ${prefix} from image store ${this.dir}`);
    }
  }

  close(): void {}

  /**
   * A read's failure. A missing file is a missing image only where the store's marker is: in an
   * empty mount point (the shared file system not mounted on this node) it is the store that is
   * missing, and forgetting the image would lose it.
   */
  #failure(err: unknown, what: string): SharedStoreError {
    if (err instanceof SharedStoreError) return err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && what.startsWith('reading')) {
      if (fs.existsSync(path.join(this.dir, MARKER_FILE))) return new SharedStoreError('CR_IMAGE_STORE_MISSING', `${what}: ${(err as Error).message}`, { cause: err });
      return new SharedStoreError('CR_IMAGE_STORE_FAILED', `${what}: ${this.dir} holds no ${MARKER_FILE}: it is not the image store the scheduler opened (is the shared file system mounted on this node?)`, { cause: err });
    }
    return failure(err, what);
  }
}

function failure(err: unknown, what: string): SharedStoreError {
  if (err instanceof SharedStoreError) return err;
  return new SharedStoreError('CR_IMAGE_STORE_FAILED', `${what}: ${(err as Error).message}`, { cause: err });
}

/**
 * Copies `from` to a new file `to` (flags 'wx': never through a planted link), with the digest
 * of `kind` (digest.ts) of the bytes as they pass; `durable` fsyncs it before returning. Reading
 * the next piece, writing the ones before it and hashing them (two at once, for a pieces digest)
 * run at once.
 *
 * A durable copy writes through a second descriptor opened with O_DIRECT where the file system
 * allows it (as the image writer and the scheduler's uploads do): each piece is read into
 * page-aligned staging, hashed there, and goes from there to the disk by DMA. Through the page
 * cache, each byte would be copied again into pages allocated for it and written back at the
 * fsync, which costs more than the read and the hash together. The unaligned tail goes through
 * the ordinary descriptor, whose fsync makes the whole file durable.
 */
export async function copyHashed(from: string, to: string, flags: string, durable: boolean, kind: DigestKind): Promise<{ bytes: number; sha256: string }> {
  const source = await fsp.open(from, 'r');
  let target: fsp.FileHandle | null = null;
  let direct: fsp.FileHandle | null = null;
  let staging: DirectStaging | null = null;
  // Every operation in flight, so that a failure closes no descriptor under a pending one.
  const pending: Promise<unknown>[] = [];
  const started = <T>(p: Promise<T>): Promise<T> => {
    // Handled now, awaited (and thrown) later: a write failing during a read is not unhandled.
    p.catch(() => undefined);
    pending.push(p);
    return p;
  };
  try {
    target = await fsp.open(to, flags, 0o600);
    if (durable) staging = STAGINGS.take();
    if (staging !== null) direct = await openDirect(to, fs.constants.O_WRONLY);
    const buffers = direct !== null ? staging!.buffers : [Buffer.allocUnsafe(COPY_BYTES), Buffer.allocUnsafe(COPY_BYTES)];
    const digest = new ImageDigest(kind);
    let bytes = 0;
    // The write and the hash of each buffer. A buffer is read into again once both are done: the
    // next read and the hashes run while the other buffers' writes are in flight.
    const writes: Promise<unknown>[] = buffers.map(() => Promise.resolve());
    // A durable copy starts an fdatasync behind the writes every FLUSH_BEHIND_BYTES, one at a
    // time: the disk writes while the next bytes are read and hashed, and the last fsync has
    // only the tail left (a plain write + fsync leaves it all to the end).
    let flushing: Promise<void> | null = null;
    let unflushed = 0;
    let next = started(readFull(source, buffers[0]!, 0));
    for (let i = 0; ; i++) {
      const buffer = buffers[i % buffers.length]!;
      const got = await next;
      if (got === 0) break;
      const chunk = buffer.subarray(0, got);
      const handle = target;
      writes[i % buffers.length] = started(Promise.all([writePiece(handle, direct, chunk, bytes), digest.add(chunk)]));
      // A short read is the end of the file.
      const following = (i + 1) % buffers.length;
      const at = bytes + got;
      next = got < buffer.length ? Promise.resolve(0) : started(writes[following]!.then(() => readFull(source, buffers[following]!, at)));
      bytes += got;
      unflushed += got;
      if (durable && flushing === null && unflushed >= FLUSH_BEHIND_BYTES) {
        unflushed = 0;
        flushing = started(Promise.all(writes).then(() => handle.datasync()).finally(() => (flushing = null)));
      }
    }
    await Promise.all(writes);
    // Its failure is the copy's: the kernel reports a write-back error once per file.
    await flushing;
    if (durable) await target.sync();
    return { bytes, sha256: await digest.digest() };
  } finally {
    await Promise.all(pending.map((p) => p.catch(() => undefined)));
    await direct?.close().catch(() => undefined);
    if (staging !== null) STAGINGS.give(staging);
    await target?.close();
    await source.close();
  }
}

/** Reads into `buffer` from `position` until it is full or the file ends; resolves with the bytes read. */
async function readFull(handle: fsp.FileHandle, buffer: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < buffer.length) {
    const { bytesRead } = await handle.read(buffer, done, buffer.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** Writes `chunk` at `position`: its aligned part through `direct` if there is one, the rest (the file's tail) through `target`. */
async function writePiece(target: fsp.FileHandle, direct: fsp.FileHandle | null, chunk: Uint8Array, position: number): Promise<void> {
  const aligned = direct === null ? 0 : chunk.length - (chunk.length % DIRECT_ALIGN);
  if (aligned > 0) await writeAll(direct!, chunk.subarray(0, aligned), position, DIRECT_ALIGN);
  if (aligned < chunk.length) await writeAll(target, chunk.subarray(aligned), position + aligned);
}

