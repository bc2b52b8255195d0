// Uploads of images to the scheduler's own store (<data>/images), as they arrive: one stream or
// several parts each (upload.ts receives one), then the image's commit.
//
// Fencing an upload: the bytes stream into a temp file while the attempt may be superseded at
// any moment; after the last byte (and its sha256) arrived, the attempt is checked once more,
// and from that check until the image is linked and recorded the job is marked `committing`,
// which placement honours. So a new attempt never starts from a restore plan that a late commit
// of the old attempt could contradict, and an attempt that is stale at the check leaves nothing.
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { type BlockCodec, getCodec, ImageReader, type LocalStore } from '../../src/internal.js';
import { CrError } from '../../src/index.js';
import { storeJobName } from '../names.js';
import { DirectStagingPool } from '../direct-staging-pool.js';
import type { ImageRow } from './schema.js';
import { partHeader, type PartHeader, type PartMessage } from './part-header.js';
import { Upload } from './upload.js';
import { refusal, Refused, type UploadResult } from './upload-outcome.js';
import { verifyStoredDirect } from './verify-direct.js';

/** Parts of uploads written directly at once, each through 16 MiB of staging kept for the next. */
export const DIRECT_PARTS_AT_ONCE = 4;
/** Ended uploads whose outcome a late part still gets. */
const ENDED_UPLOADS_KEPT = 256;

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

/** What uploads need of the image store (images.ts): where images go, and their records. */
export interface UploadTarget {
  readonly store: LocalStore;
  file(job: number, sequence: number): string;
  /** The key that tags `job`'s images. */
  jobKey(job: number): Buffer;
  list(job: number): Promise<ImageRow[]>;
  insert(row: ImageRow): Promise<void>;
  /** Removes records (their files are gone already). */
  forget(job: number, sequences: readonly number[]): Promise<void>;
  /** Throws a Refused when an image of `part.bytes` does not fit the limits. */
  checkLimits(job: number, part: Pick<PartHeader, 'bytes'>): Promise<void>;
}

/** How uploads are received (ImageStoreOptions gives each its default). */
export interface UploadTunings {
  idleMs: number;
  flushBehindBytes: number | undefined;
  directMinBytes: number | undefined;
  minBytesPerS: number;
  rateWindowMs: number;
  diskError: (err: unknown) => void;
}

export class ImageUploads {
  readonly #target: UploadTarget;
  readonly #options: UploadTunings;
  readonly #direct = new DirectStagingPool(DIRECT_PARTS_AT_ONCE);
  /** Jobs whose image is between its final fencing check and its record: not placeable. */
  readonly committing = new Set<number>();
  /** Uploads in progress, by job/sequence, with what every one of their parts will be told. */
  readonly #uploads = new Map<string, { upload: Upload; result: Promise<UploadResult> }>();
  /** Outcomes of the last uploads that ended, by upload id (oldest first). */
  readonly #ended = new Map<string, Promise<UploadResult>>();

  constructor(target: UploadTarget, options: UploadTunings) {
    this.#target = target;
    this.#options = options;
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
      if (part.part === 0 || !this.#uploads.has(key)) await this.#target.checkLimits(job, part);
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
      return refusal(err);
    }
  }

  #start(job: number, sequence: number, first: PartHeader, codec: BlockCodec, isCurrent: () => Promise<boolean>, onStored: () => Promise<void>): { upload: Upload; result: Promise<UploadResult> } {
    const key = `${job}/${sequence}`;
    const upload = new Upload(first, `image ${sequence} of job ${job}`, {
      idleMs: this.#options.idleMs,
      flushBehindBytes: this.#options.flushBehindBytes,
      direct: this.#direct,
      directMinBytes: this.#options.directMinBytes,
      codec,
      minBytesPerS: this.#options.minBytesPerS,
      rateWindowMs: this.#options.rateWindowMs,
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
      if ((await this.#target.list(job)).some((r) => r.sequence === sequence)) throw new Refused(false, `image ${sequence} of job ${job} is already stored`);
      // A file without a record was linked by a scheduler that died before recording it.
      fs.rmSync(this.#target.file(job, sequence), { force: true });
      const codec = await getCodec();
      let sha256 = '';
      let bases: number[] = [];
      await this.#target.store.commit(name, sequence, async (handle, temp) => {
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
            reader = ImageReader.open(temp, { codec, key: this.#target.jobKey(job), expect: { job: name, sequence } });
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
      const file = this.#target.file(job, sequence);
      try {
        await this.#target.insert({ job, sequence, attempt: upload.attempt, node: upload.node, bytes: upload.bytes, sha256, bases_json: JSON.stringify(bases), created_at: Date.now() });
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
      this.#options.diskError(err);
      // Parts still arriving stop at once (their bytes would go to a removed file).
      upload.fail(reason);
      return refusal(reason);
    } finally {
      this.committing.delete(job);
    }
  }

  /** Fails the uploads in progress: their temp files are removed. */
  abort(why: string): void {
    for (const { upload } of this.#uploads.values()) upload.fail(new Refused(false, why));
  }

  /** Fails the uploads in progress and frees the staging of direct reads. */
  close(why: string): void {
    this.abort(why);
    this.#direct.free();
  }

  /** Records of images the store's retention removed. */
  async #forgetPruned(job: number): Promise<void> {
    const onDisk = new Set(this.#target.store.list(storeJobName(job)).map((e) => e.sequence));
    const gone = (await this.#target.list(job)).filter((row) => !onDisk.has(row.sequence)).map((row) => row.sequence);
    await this.#target.forget(job, gone);
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
