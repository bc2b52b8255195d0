// The scheduler's images: files in a LocalStore under <data>/images (atomic commits, retention
// that keeps the bases of kept incremental images), records in the database. The store's key is
// the cluster's image key, which agents receive when they register; each job's images are tagged
// with a key derived from it (job-key.ts).
//
// Fencing an upload: the bytes stream into a temp file while the attempt may be superseded at
// any moment; after the last byte (and its sha256) arrived, the attempt is checked once more,
// and from that check until the image is linked and recorded the job is marked `committing`,
// which placement honours. So a new attempt never starts from a restore plan that a late commit
// of the old attempt could contradict, and an attempt that is stale at the check leaves nothing.
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { type BlockCodec, getCodec, ImageReader, LocalStore } from '../../src/internal.js';
import { CrError } from '../../src/index.js';
import { jobPrefix, objectName, type SharedStore } from '../images/store.js';
import { DirectStagingPool } from './direct-staging-pool.js';
import { verifyStoredDirect } from './verify-direct.js';
import { jobImageKey } from '../job-key.js';
import { storeJobName } from '../names.js';
import type { Db } from './db.js';
import { checkStoredImage, keptSequences } from './shared-images.js';
import type { ImageRow } from './schema.js';
import { basesOf, restorePlan } from './restore-plan.js';
import { MIN_UPLOAD_BYTES_PER_S, partHeader, Refused, Upload, UPLOAD_IDLE_TIMEOUT_MS, UPLOAD_RATE_WINDOW_MS, type PartHeader, type PartMessage, type RefusalStatus } from './upload.js';

export const SCHEDULER_KEEP_IMAGES = 3;
/** Parts of uploads written directly at once, each through 16 MiB of staging kept for the next. */
export const DIRECT_PARTS_AT_ONCE = 4;
/** Ended uploads whose outcome a late part still gets. */
const ENDED_UPLOADS_KEPT = 256;

export type { ImageRow };

export interface UploadHeader {
  job: number;
  attempt: number;
  sequence: number;
  bytes: number;
  node: string;
  /** A parallel upload (docs/protocol.md): parts in all (0: one stream), this part's index and byte range, the upload's id. */
  parts?: number;
  part?: number;
  offset?: number;
  length?: number;
  uploadId?: string;
  /** The image's tail (manifest and footer) sent ahead: blocks are hashed as they pass. */
  tail?: Buffer;
  /** What the checkpoint cost the job, as its node measured it (image-stats.ts). */
  rawBytes?: number;
  pauseMs?: number;
  commitMs?: number;
  /** Set when the image is in the shared store already (`record`): its sha256, and the stream holds no bytes. */
  storedSha256?: string;
}

/** `status`: the upload was refused for a limit (a gRPC status the service ends the call with), not answered with a reply. */
export type UploadResult = { accepted: true } | { accepted: false; stale: boolean; reason: string; status?: RefusalStatus };

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
  readonly #idleMs: number;
  readonly #flushBehindBytes: number | undefined;
  readonly #directMinBytes: number | undefined;
  readonly #limits: Required<Pick<ImageStoreOptions, 'maxImageBytes' | 'maxJobImageBytes' | 'minUploadBytesPerS' | 'rateWindowMs' | 'room' | 'diskError'>>;
  /** The shared store images are in, or null: they are uploaded here. */
  readonly shared: SharedStore | null;
  readonly #log: (line: string) => void;
  /** Removals from the shared store under way (close waits for them). */
  readonly #removing = new Set<Promise<void>>();
  readonly #direct = new DirectStagingPool(DIRECT_PARTS_AT_ONCE);
  /** Jobs whose image is between its final fencing check and its record: not placeable. */
  readonly committing = new Set<number>();
  /** Uploads in progress, by job/sequence, with what every one of their parts will be told. */
  readonly #uploads = new Map<string, { upload: Upload; result: Promise<UploadResult> }>();
  /** Outcomes of the last uploads that ended, by upload id (oldest first). */
  readonly #ended = new Map<string, Promise<UploadResult>>();

  constructor(db: Db, dir: string, options: ImageStoreOptions = {}) {
    this.#db = db;
    this.#idleMs = options.uploadIdleTimeoutMs ?? UPLOAD_IDLE_TIMEOUT_MS;
    this.#flushBehindBytes = options.flushBehindBytes;
    this.#directMinBytes = options.directMinBytes;
    this.#limits = {
      maxImageBytes: options.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES,
      maxJobImageBytes: options.maxJobImageBytes ?? DEFAULT_MAX_JOB_IMAGE_BYTES,
      minUploadBytesPerS: options.minUploadBytesPerS ?? MIN_UPLOAD_BYTES_PER_S,
      rateWindowMs: options.rateWindowMs ?? UPLOAD_RATE_WINDOW_MS,
      // The scheduler's disk holds no image bytes with a shared store: only its limits apply.
      room: options.shared ? async () => undefined : (options.room ?? (async () => undefined)),
      diskError: options.diskError ?? (() => undefined),
    };
    this.shared = options.shared ?? null;
    this.#log = options.log ?? (() => undefined);
    this.store = LocalStore.open({ dir, keepImages: SCHEDULER_KEEP_IMAGES });
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

  /** What a new attempt restores from (restore-plan.ts). */
  async restorePlan(job: number): Promise<ImageRow[]> {
    return restorePlan(await this.list(job));
  }

  /**
   * Receives one stream of an upload: the whole image, or one part of a parallel upload (the
   * parts of one upload_id are assembled into one temp file). `isCurrent` is the fencing check,
   * asked when each stream starts and once more after the last byte of the whole image.
   * Every stream of an upload resolves with the upload's one outcome.
   */
  async receive(header: UploadHeader, messages: AsyncIterable<PartMessage>, isCurrent: () => Promise<boolean>, onStored: () => Promise<void> = async () => undefined): Promise<UploadResult> {
    const { job, sequence } = header;
    const what = `image ${sequence} of job ${job}`;
    let entry: { upload: Upload; result: Promise<UploadResult> } | undefined;
    const key = `${job}/${sequence}`;
    try {
      let part: PartHeader;
      try {
        part = partHeader(header, randomUUID());
      } catch (err) {
        // A part that cannot be right fails the upload it names: its other parts stop waiting.
        const named = this.#uploads.get(key);
        if (named !== undefined && named.upload.id === header.uploadId && err instanceof Refused) {
          named.upload.fail(err);
          entry = named;
        }
        throw err;
      }
      const codec = await getCodec();
      if (!(await isCurrent())) throw new Refused(true, `attempt ${header.attempt} is not the current attempt of job ${job}`);
      if (part.part === 0 || !this.#uploads.has(key)) await this.#checkLimits(job, part);
      // From here to #start nothing may wait (but for a replaced upload's end, after which the
      // loop looks again), or two parts could each start an upload.
      // A late part of an upload that already ended (another part failed it) gets its outcome at
      // once, instead of starting a new upload that would wait for parts that never come.
      const ended = this.#ended.get(part.uploadId);
      if (ended !== undefined) return await ended;
      for (;;) {
        const existing = this.#uploads.get(key);
        if (existing === undefined) break;
        if (existing.upload.id === part.uploadId) {
          entry = existing;
          break;
        }
        // Another upload of the same image (the agent's new try, or a new attempt's image; the
        // stale attempt's would have been refused above) replaces one that is not complete. One
        // that is complete commits first, and this one then finds the image stored.
        existing.upload.fail(new Refused(false, `${what}: replaced by a newer upload of it`));
        await existing.result;
      }
      entry ??= this.#start(job, sequence, part, codec, isCurrent, onStored);
      await entry.upload.receive(part, messages);
      return await entry.result;
    } catch (err) {
      // A part's failure failed its upload: every part answers with that upload's outcome.
      if (entry !== undefined) return await entry.result;
      if (err instanceof Refused) return { accepted: false, stale: err.stale, reason: err.message, ...(err.status ? { status: err.status } : {}) };
      return { accepted: false, stale: false, reason: (err as Error).message };
    }
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
    const refusal = (err: unknown): UploadResult => {
      const r = err instanceof Refused ? err : new Refused(false, (err as Error).message);
      return { accepted: false, stale: r.stale, reason: r.message, ...(r.status ? { status: r.status } : {}) };
    };
    const shared = this.shared;
    if (shared === null) return refusal(new Refused(false, 'this scheduler has no shared image store (serve --images): upload the image instead'));
    try {
      if (!/^[0-9a-f]{64}$/.test(header.storedSha256)) throw new Refused(false, `stored_sha256 ${JSON.stringify(header.storedSha256.slice(0, 80))} is not a sha256 in hex`);
      if (!Number.isSafeInteger(header.bytes) || header.bytes < 0) throw new Refused(false, `an image of ${header.bytes} bytes cannot be stored`);
      if (!(await isCurrent())) throw new Refused(true, `attempt ${attempt} is not the current attempt of job ${job}`);
      const existing = (await this.list(job)).find((r) => r.sequence === sequence);
      if (existing !== undefined) {
        // The agent's retry of a record whose reply was lost: the same image is accepted again.
        if (existing.attempt === attempt && existing.sha256 === header.storedSha256) return { accepted: true };
        throw new Refused(false, `image ${sequence} of job ${job} is already stored`);
      }
      await this.#checkLimits(job, { bytes: header.bytes });
      const bases = await checkStoredImage(shared, objectName(job, sequence, attempt), job, sequence, header.bytes, this.jobKey(job));
      if (!(await isCurrent())) throw new Refused(true, `attempt ${attempt} of job ${job} was superseded while its image was checked`);
      await this.#insert({ job, sequence, attempt, node: header.node, bytes: header.bytes, sha256: header.storedSha256, bases_json: JSON.stringify(bases), created_at: Date.now() });
      await this.#retainShared(job);
      await onStored();
      return { accepted: true };
    } catch (err) {
      return refusal(err);
    }
  }

  /** An image's record: the one INSERT of both ways an image arrives (uploaded, or recorded from the shared store). */
  async #insert(row: ImageRow): Promise<void> {
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
  async #checkLimits(job: number, part: Pick<PartHeader, 'bytes'>): Promise<void> {
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

  #start(job: number, sequence: number, first: PartHeader, codec: BlockCodec, isCurrent: () => Promise<boolean>, onStored: () => Promise<void>): { upload: Upload; result: Promise<UploadResult> } {
    const key = `${job}/${sequence}`;
    const upload = new Upload(first, `image ${sequence} of job ${job}`, {
      idleMs: this.#idleMs,
      flushBehindBytes: this.#flushBehindBytes,
      direct: this.#direct,
      directMinBytes: this.#directMinBytes,
      codec,
      minBytesPerS: this.#limits.minUploadBytesPerS,
      rateWindowMs: this.#limits.rateWindowMs,
    });
    const entry = { upload, result: this.#commit(job, sequence, upload, isCurrent, onStored) };
    this.#uploads.set(key, entry);
    void entry.result.then(() => {
      upload.close();
      if (this.#uploads.get(key) === entry) this.#uploads.delete(key);
      this.#ended.set(upload.id, entry.result);
      if (this.#ended.size > ENDED_UPLOADS_KEPT) this.#ended.delete(this.#ended.keys().next().value!);
    });
    return entry;
  }

  /** The upload's one outcome: never rejects. */
  async #commit(job: number, sequence: number, upload: Upload, isCurrent: () => Promise<boolean>, onStored: () => Promise<void>): Promise<UploadResult> {
    const name = storeJobName(job);
    try {
      const existing = await this.#db.q.selectFrom('images').select('sha256').where('job', '=', job).where('sequence', '=', sequence).executeTakeFirst();
      if (existing !== undefined) throw new Refused(false, `image ${sequence} of job ${job} is already stored`);
      // A file without a record was linked by a scheduler that died before recording it.
      fs.rmSync(this.file(job, sequence), { force: true });
      const codec = await getCodec();
      let sha256 = '';
      let bases: number[] = [];
      await this.store.commit(name, sequence, async (handle, temp) => {
        upload.opened({ handle, path: temp });
        await upload.allIn;
        // The fsync (and the last flush behind the writes, if one still runs; its failure is the
        // upload's) runs on libuv's threads while the image is hashed and verified here: all end
        // before the link, in whatever order they finish.
        const synced = Promise.all([upload.flushed(), handle.sync()]);
        synced.catch(() => undefined);
        try {
          // One stream hashed the whole image as it came; parts were each hashed, and the record
          // keeps the whole image's sha256 (what a download is checked against): read back once.
          sha256 = upload.onlySha256 ?? (await fileSha256(temp, upload.bytes));
          // The bytes arrived whole; now the image itself: its tag (this job's key), its manifest
          // (this job, this number) and every block's stored hash, through the bases it shares
          // blocks with (uploaded before it, beside it in the store). Before the link, so that an
          // image that does not verify is never listed, kept by retention or served.
          let reader: ImageReader | null = null;
          try {
            reader = ImageReader.open(temp, { codec, key: this.jobKey(job), expect: { job: name, sequence } });
            bases = reader.manifest.bases;
            // Blocks hashed as they streamed in are not read again. Without a tail sent ahead,
            // every block is read back: parts written directly left nothing in the page cache,
            // so they are read back the same way.
            const staging = upload.passing === null && upload.direct ? this.#direct.take() : null;
            try {
              if (staging !== null) await verifyStoredDirect(reader, codec, staging);
              else reader.verifyStored(upload.passing);
            } finally {
              if (staging !== null) this.#direct.give(staging);
            }
          } catch (err) {
            if (err instanceof CrError) throw new Refused(false, `image ${sequence} of job ${job} does not verify: ${err.message}`);
            throw err;
          } finally {
            reader?.close();
          }
        } finally {
          await synced.catch(() => undefined);
        }
        await synced;
        if (!(await isCurrent())) throw new Refused(true, `attempt ${upload.attempt} of job ${job} was superseded during the upload`);
        this.committing.add(job);
      });
      const file = this.file(job, sequence);
      try {
        await this.#insert({ job, sequence, attempt: upload.attempt, node: upload.node, bytes: upload.bytes, sha256, bases_json: JSON.stringify(bases), created_at: Date.now() });
      } catch (err) {
        // Not recorded (the database's disk is full): not kept either, so that no file outlives its record.
        fs.rmSync(file, { force: true });
        throw err;
      }
      await this.#forgetPruned(job);
      await onStored();
      return { accepted: true };
    } catch (err) {
      const reason = err instanceof Refused ? err : new Refused(false, (err as Error).message);
      this.#limits.diskError(err);
      // Parts still arriving stop at once (their bytes would go to a removed file).
      upload.fail(reason);
      return { accepted: false, stale: reason.stale, reason: reason.message, ...(reason.status ? { status: reason.status } : {}) };
    } finally {
      this.committing.delete(job);
    }
  }

  /** Fails the uploads in progress: their temp files are removed. */
  abortUploads(why: string): void {
    for (const { upload } of this.#uploads.values()) upload.fail(new Refused(false, why));
  }

  /** Fails the uploads in progress (the scheduler shuts down): their temp files are removed. */
  close(): void {
    this.abortUploads('the scheduler is shutting down');
    this.#direct.free();
  }

  /** Waits for removals from the shared store under way (tests; a clean shutdown). */
  async settled(): Promise<void> {
    while (this.#removing.size > 0) await Promise.all(this.#removing);
  }

  /** Records of images the store's retention removed. */
  async #forgetPruned(job: number): Promise<void> {
    const onDisk = new Set(this.store.list(storeJobName(job)).map((e) => e.sequence));
    const gone = (await this.list(job)).filter((row) => !onDisk.has(row.sequence)).map((row) => row.sequence);
    if (gone.length > 0) await this.#db.write(() => this.#db.q.deleteFrom('images').where('job', '=', job).where('sequence', 'in', gone).execute());
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

const HASH_READ_BYTES = 4 << 20;

/** The temp file is written through a write-only handle: it is read back through its own. */
async function fileSha256(file: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(Math.min(HASH_READ_BYTES, Math.max(1, bytes)));
  const handle = await fs.promises.open(file, 'r');
  try {
    for (let offset = 0; offset < bytes; ) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, bytes - offset), offset);
      if (bytesRead === 0) throw new Error(`the temp file is shorter than its ${bytes} bytes`);
      hash.update(buffer.subarray(0, bytesRead));
      offset += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}
