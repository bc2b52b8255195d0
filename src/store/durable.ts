// The durable-write primitives every store write goes through. The crash argument: data is
// fsynced before the rename that publishes it, and the directory is fsynced after, so a crash at
// any instant leaves either the old name set or the new one, never a name over partial data.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

/** fsync a directory, so that renames and unlinks inside it survive a power cut. */
export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `bytes` to `file` so that it appears whole or not at all: temp file, fsync, then a
 * hard link (which fails if `file` exists, so a concurrent creator wins cleanly), fsync dir.
 * Returns false when the file already existed.
 */
export function createFileOnceSync(file: string, bytes: Uint8Array, mode: number): boolean {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.tmp.${process.pid}.${Date.now()}`);
  const fd = fs.openSync(temp, 'wx', mode);
  try {
    fs.writeSync(fd, bytes);
    fs.fsyncSync(fd);
  } catch (err) {
    // A full disk fails the write: the temp file must not stay behind.
    fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  try {
    fs.linkSync(temp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    fs.unlinkSync(temp);
    fsyncDirSync(dir);
  }
}

/** Replaces `file` with `bytes` atomically: temp file, fsync, rename over it, fsync dir. */
export function replaceFileSync(file: string, bytes: Uint8Array, mode: number): void {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.tmp.${process.pid}`);
  fs.rmSync(temp, { force: true });
  // 'wx' (O_EXCL) never follows a link planted at the temp name.
  const fd = fs.openSync(temp, 'wx', mode);
  try {
    fs.writeSync(fd, bytes);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(temp, file);
  } catch (err) {
    try {
      fs.closeSync(fd);
    } catch {
      // closed before the rename failed
    }
    fs.rmSync(temp, { force: true });
    throw err;
  }
  fsyncDirSync(dir);
}

/**
 * The bytes of a small file the store itself wrote, or null when there is none. Anything else
 * under its name (a FIFO, a directory, a link, a file over `maxBytes`) throws, without blocking:
 * opened O_NONBLOCK and O_NOFOLLOW, checked with fstat before it is read.
 */
export function readOwnFileSync(file: string, maxBytes: number): Buffer | null {
  const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW } = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDONLY | O_NONBLOCK | O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new Error(`${file} is a symbolic link, not a file of the store`);
    throw err;
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new Error(`${file} is not a regular file`);
    if (stat.size > maxBytes) throw new Error(`${file} is ${stat.size} bytes, more than the ${maxBytes} such a file holds`);
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
