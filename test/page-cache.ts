// The page cache as tests see it from outside: whether a read went past it (O_DIRECT) shows in
// what `fincore` finds cached afterwards.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Why reads past the page cache cannot be tested in `dir`, or null when they can. */
export function directReadsUntestable(dir: string): string | null {
  const probe = path.join(dir, `direct-probe-${process.pid}`);
  fs.writeFileSync(probe, Buffer.alloc(4096));
  try {
    fs.closeSync(fs.openSync(probe, fs.constants.O_RDONLY | fs.constants.O_DIRECT));
  } catch {
    return `the file system of ${dir} refuses O_DIRECT (tmpfs?)`;
  } finally {
    fs.rmSync(probe);
  }
  try {
    execFileSync('fincore', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'fincore (util-linux) is not installed';
  }
  return null;
}

/** Writes the file's pages back and drops them from the page cache (posix_fadvise DONTNEED, through dd). */
export function dropCache(file: string): void {
  const fd = fs.openSync(file, 'r+');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
}

/** Bytes of `file` in the page cache. */
export function cachedBytes(file: string): number {
  return Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file]).toString().trim());
}

/** Runs `fn` with CR_DIRECT_READS set to `value`, or unset (the addon reads it at every call). */
export function withDirectReads<T>(value: string | undefined, fn: () => T): T {
  const before = process.env.CR_DIRECT_READS;
  if (value === undefined) delete process.env.CR_DIRECT_READS;
  else process.env.CR_DIRECT_READS = value;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env.CR_DIRECT_READS;
    else process.env.CR_DIRECT_READS = before;
  }
}
