// A directory of images per job:
//   <store>/.key                     the image key (mode 0600, created on first use; a job name
//                                    cannot start with a dot, so no job directory can take its place)
//   <store>/<job>/00000012.crimg     image number 12 of <job>
//   <store>/<job>/.00000013.crimg.tmp.<pid>   an image being written (never read as an image)
//   <store>/<job>/lock               the pid of the process running the job
// Commits are atomic (temp, fsync, rename, fsync dir): a crash at any instant leaves the images
// that were committed before it, each whole.
import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BlockCodec } from '../codec/types.js';
import { CrError, NoImageError, StoreLockedError } from '../errors.js';
import { IMAGE_EXTENSION, JOB_NAME_PATTERN } from '../image/format.js';
import { ImageReader, readBasesUnverified } from '../image/reader.js';
import { fsyncDir, fsyncDirSync } from './durable.js';
import { loadOrCreateKey, readKeyFile } from './key.js';

export const DEFAULT_KEEP_IMAGES = 3;
/** The store's own key file, beside the job directories. */
export const STORE_KEY_FILE = '.key';

export interface LocalStoreOptions {
  /** The store's directory; created when missing. */
  dir: string;
  /** Images kept per job after each commit, newest first. Default 3. */
  keepImages?: number;
  /** An explicit key file; default `<dir>/.key`, created on first use. */
  keyFile?: string | null;
}

export interface ImageEntry {
  job: string;
  sequence: number;
  file: string;
  bytes: number;
}

export interface LatestImage {
  entry: ImageEntry;
  reader: ImageReader;
  /** Newer images that failed verification and were passed over, with why. */
  skipped: { entry: ImageEntry; error: Error }[];
}

const IMAGE_NAME = /^(\d{8,})\.crimg$/;

export class LocalStore {
  readonly dir: string;
  readonly key: Buffer;
  readonly keepImages: number;

  private constructor(dir: string, key: Buffer, keepImages: number) {
    this.dir = dir;
    this.key = key;
    this.keepImages = keepImages;
  }

  static open(options: LocalStoreOptions): LocalStore {
    const keep = options.keepImages ?? DEFAULT_KEEP_IMAGES;
    if (!Number.isInteger(keep) || keep < 1) throw new RangeError('keepImages must be a positive integer');
    const dir = path.resolve(options.dir);
    fs.mkdirSync(dir, { recursive: true });
    const key = options.keyFile ? readKeyFile(options.keyFile) : loadOrCreateKey(path.join(dir, STORE_KEY_FILE));
    return new LocalStore(dir, key, keep);
  }

  /** The same store in another thread (the image writer's): the key is passed, not read again. */
  static withKey(dir: string, key: Uint8Array, keepImages: number): LocalStore {
    if (!Number.isInteger(keepImages) || keepImages < 1) throw new RangeError('keepImages must be a positive integer');
    return new LocalStore(path.resolve(dir), Buffer.from(key), keepImages);
  }

  jobDir(job: string): string {
    checkJobName(job);
    return path.join(this.dir, job);
  }

  /** The job's committed images, oldest first. Temp files are never listed. */
  list(job: string): ImageEntry[] {
    const entries: ImageEntry[] = [];
    for (const sequence of this.#sequences(job)) {
      const file = this.imageFile(job, sequence);
      let bytes = 0;
      try {
        bytes = fs.statSync(file).size;
      } catch {
        continue; // pruned meanwhile
      }
      entries.push({ job, sequence, file, bytes });
    }
    return entries;
  }

  /** One more than the highest sequence on disk, so that nothing committed is ever overwritten. */
  nextSequence(job: string): number {
    // Names only: this runs at every checkpoint, and needs no stat of each image.
    const sequences = this.#sequences(job);
    return sequences.length === 0 ? 1 : sequences[sequences.length - 1]! + 1;
  }

  /** Sequences of the job's committed images, ascending, from the directory's names. */
  #sequences(job: string): number[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.jobDir(job));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const sequences: number[] = [];
    for (const name of names) {
      const match = IMAGE_NAME.exec(name);
      if (match) sequences.push(Number(match[1]));
    }
    return sequences.sort((a, b) => a - b);
  }

  imageFile(job: string, sequence: number): string {
    // The number becomes a file name: -1, 1.5 or NaN would name a file no listing recognises.
    if (!Number.isSafeInteger(sequence) || sequence < 1) throw new RangeError(`an image sequence is a positive whole number, got ${String(sequence)}`);
    return path.join(this.jobDir(job), `${String(sequence).padStart(8, '0')}${IMAGE_EXTENSION}`);
  }

  /**
   * Writes image `sequence` of `job` through `write`, then publishes it atomically and prunes
   * images beyond `keepImages`. If anything fails, the temp file is removed and the images
   * committed before stay as they were.
   */
  async commit<T>(job: string, sequence: number, write: (file: FileHandle, temp: string) => Promise<T>): Promise<{ file: string; result: T }> {
    const file = this.imageFile(job, sequence);
    const dir = path.dirname(file);
    await fsp.mkdir(dir, { recursive: true });
    const temp = path.join(dir, `.${path.basename(file)}.tmp.${process.pid}`);
    // Whatever sits at the temp name (left by a failed unlink, or a symlink planted in the job
    // directory) is removed, and the temp is created exclusively ('wx' is O_EXCL, which never
    // follows a symlink): a commit never writes through a link to a file outside the store.
    await fsp.rm(temp, { force: true });
    let handle: FileHandle | null = await fsp.open(temp, 'wx', 0o600);
    try {
      // `temp` lets the writer read back what it wrote (the scheduler verifies an upload) before it is linked.
      const result = await write(handle, temp);
      await handle.sync();
      await handle.close();
      handle = null;
      // link, not rename: it refuses to replace an image that already has this number.
      await fsp.link(temp, file);
      await fsp.unlink(temp);
      await fsyncDir(dir);
      await this.prune(job);
      return { file, result };
    } catch (err) {
      await handle?.close().catch(() => undefined);
      await fsp.unlink(temp).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Removes images older than the newest `keepImages`, except those a kept image shares blocks
   * with (its bases), which an incremental image needs to be restored.
   */
  async prune(job: string): Promise<void> {
    const entries = this.list(job);
    const kept = entries.slice(Math.max(0, entries.length - this.keepImages));
    const needed = new Set(kept.map((e) => e.sequence));
    for (const entry of kept) for (const base of readBasesUnverified(entry.file)) needed.add(base);
    const doomed = entries.filter((e) => !needed.has(e.sequence));
    for (const entry of doomed) await fsp.unlink(entry.file).catch(() => undefined);
    if (doomed.length > 0) await fsyncDir(this.jobDir(job));
  }

  /** Deletes one image (`--fresh`): it is gone once this returns. */
  removeImage(entry: ImageEntry): void {
    fs.rmSync(entry.file, { force: true });
    fsyncDirSync(path.dirname(entry.file));
  }

  /** Temp files left by writers that died mid-checkpoint; safe to call while holding the lock. */
  removeStaleTemps(job: string): number {
    const dir = this.jobDir(job);
    let removed = 0;
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return 0;
    }
    for (const name of names) {
      const match = /^\.\d+\.crimg\.tmp\.(\d+)$/.exec(name);
      if (match && !isAlive(Number(match[1]))) {
        fs.rmSync(path.join(dir, name), { force: true });
        removed++;
      }
    }
    if (removed > 0) fsyncDirSync(dir);
    return removed;
  }

  /** Opens one image file of this store (or any path) with this store's key, checks 1–5 of the spec. */
  openImage(file: string, codec: BlockCodec, expect?: { job?: string; sequence?: number }): ImageReader {
    return ImageReader.open(file, { codec, key: this.key, expect });
  }

  /**
   * The newest image of `job` that verifies (tag, manifest, then `accept`: by default every
   * block's stored hash; a restore passes a full decode, so each block is read once); newer
   * ones that fail are reported in `skipped`. `exclude` lists sequences known to fail restoring. Throws NoImageError when images exist but none
   * verifies; returns null when the job has no image at all.
   */
  latest(job: string, codec: BlockCodec, exclude: readonly number[] = [], accept: (reader: ImageReader) => void = (r) => r.verifyStored()): LatestImage | null {
    const entries = this.list(job);
    const skipped: LatestImage['skipped'] = [];
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i]!;
      if (exclude.includes(entry.sequence)) {
        skipped.push({ entry, error: new Error('it failed while being restored in an earlier attempt') });
        continue;
      }
      let reader: ImageReader | null = null;
      try {
        reader = this.openImage(entry.file, codec, { job, sequence: entry.sequence });
        accept(reader);
        return { entry, reader, skipped };
      } catch (err) {
        reader?.close();
        if (!(err instanceof CrError) && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        skipped.push({ entry, error: err as Error });
      }
    }
    if (skipped.length > 0) {
      throw new NoImageError(
        `none of the ${skipped.length} images of job "${job}" in ${this.jobDir(job)} verifies ` +
          `(newest: ${skipped[0]!.error.message}); start over with --fresh, or give an image with --from`,
      );
    }
    return null;
  }

  /** Takes the job's lock for this process. A lock left by a dead process is taken over. */
  lock(job: string): () => void {
    const dir = this.jobDir(job);
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'lock');
    const me = `${process.pid} ${os.hostname()}\n`;
    for (let tries = 0; tries < 3; tries++) {
      try {
        fs.writeFileSync(file, me, { flag: 'wx', mode: 0o600 });
        let released = false;
        return () => {
          if (released) return;
          released = true;
          try {
            if (fs.readFileSync(file, 'utf8') === me) fs.unlinkSync(file);
          } catch {
            // already gone
          }
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const [pidText, host] = readOr(file, '').trim().split(' ');
      const pid = Number(pidText);
      if (host === os.hostname() && Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
        throw new StoreLockedError(
          `job "${job}" is already running in process ${pid} (lock ${file}): stop that run first, or use another --name or --store`,
        );
      }
      if (host !== undefined && host !== os.hostname()) {
        throw new StoreLockedError(`job "${job}" is locked by host ${host} (lock ${file}): if that run is gone, remove the lock file`);
      }
      fs.rmSync(file, { force: true }); // stale: its process is gone
    }
    throw new StoreLockedError(`could not take the lock ${file}`);
  }
}

export function checkJobName(job: string): void {
  if (!JOB_NAME_PATTERN.test(job)) {
    throw new TypeError(`job name ${JSON.stringify(job)} is not valid: use letters, digits, ".", "_" and "-" (at most 128), starting with a letter or digit`);
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}
