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
