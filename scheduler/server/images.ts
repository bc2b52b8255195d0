// The scheduler's images: files in a LocalStore under <data>/images (atomic commits, retention
// that keeps the bases of kept incremental images), records in the database. The store's key is
// the cluster's image key, which agents receive when they register; each job's images are tagged
// with a key derived from it (job-key.ts).
//
// Images arrive uploaded (image-uploads.ts) or recorded from the shared store (`record`).
import fs from 'node:fs';
import { LocalStore } from '../../src/internal.js';
import { jobPrefix, objectName, type SharedStore } from '../images/store.js';
import { digestKind } from '../images/digest.js';
import { ImageUploads, type UploadHeader } from './image-uploads.js';
import { jobImageKey } from '../job-key.js';
import { storeJobName } from '../names.js';
import { batches, type Db } from './db.js';
import { checkStoredImage, keptSequences } from './shared-images.js';
import type { ImageRow } from './schema.js';
import { basesOf, restorePlan } from './restore-plan.js';
import type { PartHeader, PartMessage } from './part-header.js';
import { MIN_UPLOAD_BYTES_PER_S, UPLOAD_IDLE_TIMEOUT_MS, UPLOAD_RATE_WINDOW_MS } from './upload.js';
import { refusal, Refused, type UploadResult } from './upload-outcome.js';

export const SCHEDULER_KEEP_IMAGES = 3;

export type { ImageRow, UploadHeader, UploadResult };

/** An image larger than this is refused before a byte is written (`--max-image-bytes`). */
export const DEFAULT_MAX_IMAGE_BYTES = 64 * 2 ** 30;
/**
 * The images of one job held at once, with the one being uploaded, at most
 * (`--max-job-image-bytes`): room for the images retention keeps and a new one, each of the
 * largest size (256 GiB).
 */
export const DEFAULT_MAX_JOB_IMAGE_BYTES = (SCHEDULER_KEEP_IMAGES + 1) * DEFAULT_MAX_IMAGE_BYTES;

export interface ImageStoreOptions {
  /** An upload that gets no byte for this long fails (a part never came), ms. */
  uploadIdleTimeoutMs?: number;
  /** Bytes of an upload written between the fdatasyncs that run behind its writes (default FLUSH_BEHIND_BYTES). */
  flushBehindBytes?: number;
  /** Parts at least this long are written directly (O_DIRECT) where they can be; default DIRECT_MIN_BYTES. */
  directMinBytes?: number;
  /** An image declared larger is refused (default DEFAULT_MAX_IMAGE_BYTES). */
  maxImageBytes?: number;
  /** A job's images with the new one, at most (default DEFAULT_MAX_JOB_IMAGE_BYTES). */
  maxJobImageBytes?: number;
  /** An upload slower than this, averaged over `rateWindowMs`, is cut, bytes/s (default MIN_UPLOAD_BYTES_PER_S). */
  minUploadBytesPerS?: number;
  rateWindowMs?: number;
  /**
   * Asked before an upload starts, with its declared size: throws a Refused when the disk
   * cannot take it (after pruning what retention allows). Default: no check.
   */
  room?: (bytes: number) => Promise<void>;
  /** Told of every error of an upload's commit, so that the scheduler sees its disk fail. */
  diskError?: (err: unknown) => void;
  /**
   * The shared image store (`--images`): agents write images there and the scheduler records
   * them (`record`); nothing is uploaded to <data>/images. Default: none.
   */
  shared?: SharedStore | null;
  /** Told what could not be removed from the shared store (its records are gone already). */
  log?: (line: string) => void;
}

export class ImageStore {
  readonly store: LocalStore;
  readonly #db: Db;
  readonly #limits: Required<Pick<ImageStoreOptions, 'maxImageBytes' | 'maxJobImageBytes' | 'room'>>;
  /** The shared store images are in, or null: they are uploaded here. */
  readonly shared: SharedStore | null;
  readonly #log: (line: string) => void;
  /** Removals from the shared store under way (close waits for them). */
  readonly #removing = new Set<Promise<void>>();
  readonly #uploads: ImageUploads;

  constructor(db: Db, dir: string, options: ImageStoreOptions = {}) {
    this.#db = db;
    this.#limits = {
      maxImageBytes: options.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES,
      maxJobImageBytes: options.maxJobImageBytes ?? DEFAULT_MAX_JOB_IMAGE_BYTES,
      // The scheduler's disk holds no image bytes with a shared store: only its limits apply.
      room: options.shared ? async () => undefined : (options.room ?? (async () => undefined)),
    };
    this.shared = options.shared ?? null;
    this.#log = options.log ?? (() => undefined);
    this.store = LocalStore.open({ dir, keepImages: SCHEDULER_KEEP_IMAGES });
    this.#uploads = new ImageUploads(this, {
      idleMs: options.uploadIdleTimeoutMs ?? UPLOAD_IDLE_TIMEOUT_MS,
      flushBehindBytes: options.flushBehindBytes,
      directMinBytes: options.directMinBytes,
      minBytesPerS: options.minUploadBytesPerS ?? MIN_UPLOAD_BYTES_PER_S,
      rateWindowMs: options.rateWindowMs ?? UPLOAD_RATE_WINDOW_MS,
      diskError: options.diskError ?? (() => undefined),
    });
  }

  /** Jobs whose image is between its final fencing check and its record: not placeable. */
  get committing(): ReadonlySet<number> {
    return this.#uploads.committing;
  }

  /** One stream of an upload to <data>/images (image-uploads.ts). */
  receive(header: UploadHeader, messages: AsyncIterable<PartMessage>, isCurrent: () => Promise<boolean>, onStored?: () => Promise<void>): Promise<UploadResult> {
    return this.#uploads.receive(header, messages, isCurrent, onStored);
  }

  get key(): Buffer {
    return this.store.key;
  }

  /** The key that tags `job`'s images: the only key an upload of that job may be tagged with. */
  jobKey(job: number): Buffer {
    return jobImageKey(this.key, job);
  }

  list(job: number): Promise<ImageRow[]> {
    return this.#db.q.selectFrom('images').selectAll().where('job', '=', job).orderBy('sequence').execute();
  }

  /** `list` of each of `jobs` (a burst of placements), a query per BATCH_ROWS jobs; a job without images has an empty list. */
  async listMany(jobs: readonly number[]): Promise<Map<number, ImageRow[]>> {
    const out = new Map<number, ImageRow[]>(jobs.map((job) => [job, []]));
    for (const batch of batches(jobs)) {
      for (const row of await this.#db.q.selectFrom('images').selectAll().where('job', 'in', batch).orderBy('job').orderBy('sequence').execute()) out.get(row.job)!.push(row);
    }
    return out;
  }

  /** Bytes of the job's stored images. */
  async bytes(job: number): Promise<number> {
    const row = await this.#db.q.selectFrom('images').select((eb) => eb.fn.sum<number>('bytes').as('n')).where('job', '=', job).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async count(job: number): Promise<number> {
    const row = await this.#db.q.selectFrom('images').select((eb) => eb.fn.countAll<number>().as('n')).where('job', '=', job).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  file(job: number, sequence: number): string {
    return this.store.imageFile(storeJobName(job), sequence);
  }

  /** The shared store's object of an image record. */
  object(row: Pick<ImageRow, 'job' | 'sequence' | 'attempt'>): string {
    return objectName(row.job, row.sequence, row.attempt);
  }

  /** What a new attempt restores from (restore-plan.ts); `known`: the job's images, when read with others'. */
  async restorePlan(job: number, known?: ImageRow[]): Promise<ImageRow[]> {
    return restorePlan(known ?? (await this.list(job)));
  }

  /**
   * Records an image an agent wrote to the shared store (`header.storedSha256` is its sha256, as
   * the agent computed it while writing): after the fencing check, its size, tag and manifest
   * are checked from the store, and its bases come from that checked manifest. The same fencing
   * as an upload: a stale attempt's image is refused, and the job is `committing` from the last
   * check to the record.
   */
  async record(header: UploadHeader & { storedSha256: string }, isCurrent: () => Promise<boolean>, onStored: () => Promise<void> = async () => undefined): Promise<UploadResult> {
    const { job, sequence, attempt } = header;
    const shared = this.shared;
    if (shared === null) return refusal(new Refused(false, 'this scheduler has no shared image store (serve --images): upload the image instead'));
    try {
      // Either kind: agents from before the pieces digest send a whole sha256, which copies are then checked with.
      if (digestKind(header.storedSha256) === null) throw new Refused(false, `stored_sha256 ${JSON.stringify(header.storedSha256.slice(0, 80))} is not an image digest (a sha256, or a pieces digest: sha256-hex "-" count)`);
      if (!Number.isSafeInteger(header.bytes) || header.bytes < 0) throw new Refused(false, `an image of ${header.bytes} bytes cannot be stored`);
      if (!(await isCurrent())) throw new Refused(true, `attempt ${attempt} is not the current attempt of job ${job}`);
      const existing = (await this.list(job)).find((r) => r.sequence === sequence);
      if (existing !== undefined) {
        // The agent's retry of a record whose reply was lost: the same image is accepted again.
        if (existing.attempt === attempt && existing.sha256 === header.storedSha256) return { accepted: true };
        throw new Refused(false, `image ${sequence} of job ${job} is already stored`);
      }
      await this.checkLimits(job, { bytes: header.bytes });
      const bases = await checkStoredImage(shared, objectName(job, sequence, attempt), job, sequence, header.bytes, this.jobKey(job));
      if (!(await isCurrent())) throw new Refused(true, `attempt ${attempt} of job ${job} was superseded while its image was checked`);
      await this.insert({ job, sequence, attempt, node: header.node, bytes: header.bytes, sha256: header.storedSha256, bases_json: JSON.stringify(bases), created_at: Date.now() });
      await this.#retainShared(job);
      await onStored();
      return { accepted: true };
    } catch (err) {
      return refusal(err);
    }
  }

  /** An image's record: the one INSERT of both ways an image arrives (uploaded, or recorded from the shared store). */
  async insert(row: ImageRow): Promise<void> {
    await this.#db.write(() => this.#db.q.insertInto('images').values(row).execute());
  }

  /** The shared store's retention, as LocalStore's: the newest images and the bases they need, by their records. */
  async #retainShared(job: number): Promise<void> {
    const rows = await this.list(job);
    const kept = keptSequences(rows.map((r) => ({ sequence: r.sequence, bases: basesOf(r) })), SCHEDULER_KEEP_IMAGES);
    const doomed = rows.filter((r) => !kept.has(r.sequence)).map((r) => r.sequence);
    if (doomed.length > 0) await this.remove(job, doomed);
  }

  /** Limits an upload must fit, checked before its first byte is written. */
  async checkLimits(job: number, part: Pick<PartHeader, 'bytes'>): Promise<void> {
    const { maxImageBytes, maxJobImageBytes } = this.#limits;
    const gib = (n: number): string => `${(n / 2 ** 30).toFixed(n < 2 ** 30 ? 3 : 1)} GiB`;
    if (part.bytes > maxImageBytes) {
      throw new Refused(false, `image of job ${job} is ${part.bytes} bytes (${gib(part.bytes)}); this scheduler takes images up to ${maxImageBytes} bytes (${gib(maxImageBytes)}, --max-image-bytes)`, 'RESOURCE_EXHAUSTED');
    }
    const held = await this.bytes(job);
    if (held + part.bytes > maxJobImageBytes) {
      throw new Refused(false, `job ${job} holds ${held} bytes of images; with this one (${part.bytes} bytes) it would pass its quota of ${maxJobImageBytes} bytes (${gib(maxJobImageBytes)}, --max-job-image-bytes)`, 'RESOURCE_EXHAUSTED');
    }
    await this.#limits.room(part.bytes);
  }

  /** Fails the uploads in progress: their temp files are removed. */
  abortUploads(why: string): void {
    this.#uploads.abort(why);
  }

  /** Fails the uploads in progress (the scheduler shuts down): their temp files are removed. */
  close(): void {
    this.#uploads.close('the scheduler is shutting down');
  }

  /** Removes records whose files are gone (the store's retention removed them). */
  async forget(job: number, sequences: readonly number[]): Promise<void> {
    if (sequences.length > 0) await this.#db.write(() => this.#db.q.deleteFrom('images').where('job', '=', job).where('sequence', 'in', sequences).execute());
  }

  /** Waits for removals from the shared store under way (tests; a clean shutdown). */
  async settled(): Promise<void> {
    while (this.#removing.size > 0) await Promise.all(this.#removing);
  }

  /**
   * Removes images of a job (all of them without `sequences`): their records first, in one
   * transaction, then their files, so that no record names a missing file. Returns what was
   * removed and the files that could not be (kept on disk, named in the log by the caller).
   */
  async remove(job: number, sequences?: readonly number[]): Promise<{ removed: ImageRow[]; failed: string[] }> {
    const rows = (await this.list(job)).filter((r) => sequences === undefined || sequences.includes(r.sequence));
    if (rows.length === 0 && sequences !== undefined) return { removed: [], failed: [] };
    if (rows.length > 0) {
      await this.#db.write(() =>
        this.#db.q
          .deleteFrom('images')
          .where('job', '=', job)
          .where(
            'sequence',
            'in',
            rows.map((r) => r.sequence),
          )
          .execute(),
      );
    }
    const failed: string[] = [];
    if (this.shared !== null) {
      // Objects go after their records, in the background: one that cannot be removed now is
      // named in the log (an object without a record is never restored from).
      const shared = this.shared;
      const removing = (sequences === undefined ? shared.removeAll(jobPrefix(job)) : shared.remove(rows.map((r) => this.object(r))))
        .catch((err: Error) => this.#log(`images of job ${job}: could not remove from ${shared.location}: ${err.message}`))
        .finally(() => this.#removing.delete(removing));
      this.#removing.add(removing);
      return { removed: rows, failed };
    }
    const unlink = (file: string, recursive: boolean): void => {
      try {
        fs.rmSync(file, { force: true, recursive });
      } catch (err) {
        failed.push(`${file}: ${(err as Error).message}`);
      }
    };
    if (sequences === undefined) unlink(this.store.jobDir(storeJobName(job)), true);
    else for (const r of rows) unlink(this.file(job, r.sequence), false);
    return { removed: rows, failed };
  }
}
