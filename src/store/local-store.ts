// A directory of images per job:
//   <store>/.key                     the image key (mode 0600, created on first use; a job name
//                                    cannot start with a dot, so no job directory can take its place)
//   <store>/<job>/00000012.crimg     image number 12 of <job>
//   <store>/<job>/.00000013.crimg.tmp.<pid>   an image being written (never read as an image)
//   <store>/<job>/lock               the pid of the process running the job
//   <store>/<job>/finished.json      that the job finished, and its result (finished.ts)
// Only regular files named as image names of a valid sequence are images; anything else with
// such a name (a FIFO, a directory, a link, a number beyond 2^53 − 1) is passed over with a warning.
// Commits are atomic (temp, fsync, link to the image's name, unlink the temp, fsync dir): a crash
// at any instant leaves the images that were committed before it, each whole.
import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BlockCodec } from '../codec/types.js';
import { CrError, NoImageError, StoreLockedError } from '../errors.js';
import { imageFileName, JOB_NAME_PATTERN } from '../image/format.js';
import { fileKind, readBasesUnverified } from '../image/manifest-reader.js';
import { ImageReader } from '../image/reader.js';
import { fsyncDir, fsyncDirSync, readOwnFileSync } from './durable.js';
import { FINISHED_FILE, readFinished, writeFinished, type FinishedRecord } from './finished.js';
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
  /** Where the store's warnings go (entries passed over, files retention could not delete); default process.emitWarning. */
  warn?: (message: string) => void;
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

/** A name that looks like an image's; whether it is one is `imageSequence`'s to say. */
const IMAGE_LIKE_NAME = /^(\d+)\.crimg$/;

/** The sequence an entry's name gives, if it is exactly the name `imageFile` makes for it; else null. */
function imageSequence(name: string): number | null {
  const match = IMAGE_LIKE_NAME.exec(name);
  if (!match) return null;
  const sequence = Number(match[1]);
  return Number.isSafeInteger(sequence) && sequence >= 1 && imageFileName(sequence) === name ? sequence : null;
}

function defaultWarn(message: string): void {
  process.emitWarning(message, 'CrStoreWarning');
}

export class LocalStore {
  readonly dir: string;
  readonly key: Buffer;
  readonly keepImages: number;
  readonly #warn: (message: string) => void;
  /** What was warned about already: each entry passed over is named once. */
  readonly #warned = new Set<string>();
  /**
   * The bases each image named, by file, with the identity of the file they were read from. A
   * committed image never changes, so retention reads each one's manifest once rather than every
   * kept image's at every commit (a store keeping 1000 images read 1000 manifests per commit).
   */
  readonly #bases = new Map<string, { identity: string; bases: number[] }>();

  private constructor(dir: string, key: Buffer, keepImages: number, warn: (message: string) => void) {
    this.dir = dir;
    this.key = key;
    this.keepImages = keepImages;
    this.#warn = warn;
  }

  static open(options: LocalStoreOptions): LocalStore {
    const keep = options.keepImages ?? DEFAULT_KEEP_IMAGES;
    if (!Number.isInteger(keep) || keep < 1) throw new RangeError('keepImages must be a positive integer');
    const dir = path.resolve(options.dir);
    fs.mkdirSync(dir, { recursive: true });
    const key = options.keyFile ? readKeyFile(options.keyFile) : loadOrCreateKey(path.join(dir, STORE_KEY_FILE));
    return new LocalStore(dir, key, keep, options.warn ?? defaultWarn);
  }

  /** The same store in another thread (the image writer's): the key is passed, not read again. */
  static withKey(dir: string, key: Uint8Array, keepImages: number, warn: (message: string) => void = defaultWarn): LocalStore {
    if (!Number.isInteger(keepImages) || keepImages < 1) throw new RangeError('keepImages must be a positive integer');
    return new LocalStore(path.resolve(dir), Buffer.from(key), keepImages, warn);
  }

  #warnOnce(key: string, message: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#warn(message);
  }

  jobDir(job: string): string {
    checkJobName(job);
    return path.join(this.dir, job);
  }

  /** The job's committed images, oldest first: regular files with an image's name. Temp files are never listed. */
  list(job: string): ImageEntry[] {
    return this.#list(job).map(({ entry }) => entry);
  }

  /** `list`, each entry with the identity of its file (device, inode, size, change time). */
  #list(job: string): { entry: ImageEntry; identity: string }[] {
    const entries: { entry: ImageEntry; identity: string }[] = [];
    for (const { sequence, image } of this.#scan(job)) {
      if (!image) continue;
      const file = this.imageFile(job, sequence);
      let stat: fs.Stats;
      try {
        stat = fs.lstatSync(file);
      } catch {
        continue; // pruned meanwhile
      }
      entries.push({ entry: { job, sequence, file, bytes: stat.size }, identity: `${stat.dev}:${stat.ino}:${stat.size}:${stat.ctimeMs}` });
    }
    return entries;
  }

  /** The images `file` shares blocks with, read once per file identity. */
  #readBases(file: string, identity: string): number[] {
    const known = this.#bases.get(file);
    if (known?.identity === identity) return known.bases;
    const bases = readBasesUnverified(file);
    this.#bases.set(file, { identity, bases });
    return bases;
  }

  /**
   * One more than the highest sequence named on disk, so that nothing committed is ever
   * overwritten (a non-image entry holding a valid name keeps its number taken too).
   */
  nextSequence(job: string): number {
    // Names and entry types only: this runs at every checkpoint, and needs no stat of each image.
    const scanned = this.#scan(job);
    return scanned.length === 0 ? 1 : scanned[scanned.length - 1]!.sequence + 1;
  }

  /**
   * The entries of the job's directory with a valid image name, ascending; `image` is true for
   * regular files. Other entries that look like images are passed over, each named once in a warning.
   */
  #scan(job: string): { sequence: number; image: boolean }[] {
    const dir = this.jobDir(job);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const found: { sequence: number; image: boolean }[] = [];
    for (const entry of entries) {
      if (!IMAGE_LIKE_NAME.test(entry.name)) continue;
      const sequence = imageSequence(entry.name);
      const where = path.join(dir, entry.name);
      if (sequence === null) {
        this.#warnOnce(where, `passed over ${where}: its name is not an image name this store writes (a number from 1 to 2^53 − 1, at least 8 digits, no extra leading zeros)`);
        continue;
      }
      // readdir's type is lstat's (Node asks lstat where the file system does not say): a link is a link.
      const image = entry.isFile();
      if (!image) this.#warnOnce(where, `passed over ${where}: it is ${fileKind(entry)}, not an image file`);
      found.push({ sequence, image });
    }
    return found.sort((a, b) => a.sequence - b.sequence);
  }

  imageFile(job: string, sequence: number): string {
    // The number becomes a file name: -1, 1.5 or NaN would name a file no listing recognises.
    if (!Number.isSafeInteger(sequence) || sequence < 1) throw new RangeError(`an image sequence is a positive whole number, got ${String(sequence)}`);
    return path.join(this.jobDir(job), imageFileName(sequence));
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
      // `temp` is the file's path, for a writer that opens it again (direct writes; reading it back to verify it before it is linked).
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
   * Removes images older than the newest `keep` (default `keepImages`), except those a kept image
   * shares blocks with (its bases), which an incremental image needs to be restored. Only what is
   * proven unneeded goes: when a kept image's bases cannot be read, every image older than it
   * stays. What cannot be read or deleted is warned about; the images removed are returned.
   */
  async prune(job: string, keep = this.keepImages): Promise<ImageEntry[]> {
    const listed = this.#list(job);
    const entries = listed.map(({ entry }) => entry);
    const kept = listed.slice(Math.max(0, listed.length - keep));
    const needed = new Set(kept.map(({ entry }) => entry.sequence));
    /** Every image below this sequence is kept: a kept image above it did not say which it needs. */
    let keepBelow = 0;
    for (const { entry, identity } of kept) {
      try {
        for (const base of this.#readBases(entry.file, identity)) needed.add(base);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed meanwhile: it needs nothing now
        keepBelow = Math.max(keepBelow, entry.sequence);
        this.#warnOnce(
          `bases:${entry.file}`,
          `kept the images of "${job}" older than ${path.basename(entry.file)}: which of them it needs could not be read (${(err as Error).message})`,
        );
      }
    }
    // Only kept images are asked again: the rest are about to go, or went before.
    const keptFiles = new Set(kept.map(({ entry }) => entry.file));
    const jobDir = this.jobDir(job);
    for (const file of this.#bases.keys()) if (path.dirname(file) === jobDir && !keptFiles.has(file)) this.#bases.delete(file);
    const doomed = entries.filter((e) => !needed.has(e.sequence) && e.sequence > keepBelow);
    const removed: ImageEntry[] = [];
    for (const entry of doomed) {
      try {
        await fsp.unlink(entry.file);
        removed.push(entry);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        this.#warnOnce(`unlink:${entry.file}`, `could not delete ${entry.file}, an image retention no longer needs: ${code ?? (err as Error).message}`);
      }
    }
    if (removed.length > 0) await fsyncDir(this.jobDir(job));
    return removed;
  }

  /** The record that `job` finished, or null. A damaged one is warned about and treated as absent (the run resumes from its images instead). */
  readFinished(job: string): FinishedRecord | null {
    try {
      return readFinished(this.jobDir(job));
    } catch (err) {
      this.#warnOnce(`finished:${job}`, `passed over the finished record of "${job}": ${(err as Error).message}`);
      return null;
    }
  }

  /** Records atomically that `job` finished, with its result. */
  recordFinished(record: FinishedRecord): void {
    fs.mkdirSync(this.jobDir(record.job), { recursive: true });
    writeFinished(this.jobDir(record.job), record);
  }

  /** Deletes the finished record (a run that starts over); gone once this returns. */
  removeFinished(job: string): boolean {
    const file = path.join(this.jobDir(job), FINISHED_FILE);
    // Only a file (or link) is removed: a directory under that name is not the store's own.
    const stat = fs.lstatSync(file, { throwIfNoEntry: false });
    if (stat === undefined || stat.isDirectory()) return false;
    fs.rmSync(file, { force: true });
    fsyncDirSync(path.dirname(file));
    return true;
  }

  /** Deletes one image (a run that starts over): it is gone once this returns. */
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
    // The store's own files are never reached through a link; a file the user names (--from) is.
    const own = path.dirname(path.dirname(path.resolve(file))) === this.dir;
    return ImageReader.open(file, { codec, key: this.key, expect, followLinks: !own });
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
          `(newest: ${skipped[0]!.error.message})`,
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
          `job "${job}" is already running in process ${pid} (lock ${file}): stop that run first`,
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
    // A FIFO planted as the lock must not block the run: read only a regular file.
    return readOwnFileSync(file, 4096)?.toString('utf8') ?? fallback;
  } catch {
    return fallback;
  }
}
