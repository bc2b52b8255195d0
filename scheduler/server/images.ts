// The scheduler's images: files in a LocalStore under <data>/images (atomic commits, retention
// that keeps the bases of kept incremental images), records in the database. The store's key is
// the cluster's image key, which agents receive when they register.
//
// Fencing an upload: the bytes stream into a temp file while the attempt may be superseded at
// any moment; after the last byte (and its sha256) arrived, the attempt is checked once more,
// and from that check until the image is linked and recorded the job is marked `committing`,
// which placement honours. So a new attempt never starts from a restore plan that a late commit
// of the old attempt could contradict, and an attempt that is stale at the check leaves nothing.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { getCodec } from '../../src/codec/index.js';
import { CrError } from '../../src/errors.js';
import { ImageReader, readBasesUnverified } from '../../src/image/reader.js';
import { LocalStore } from '../../src/store/local-store.js';
import { storeJobName } from '../names.js';
import type { Db } from './db.js';

export const SCHEDULER_KEEP_IMAGES = 3;

export interface ImageRow {
  job: number;
  sequence: number;
  attempt: number;
  node: string;
  bytes: number;
  sha256: string;
  bases_json: string;
  created_at: number;
}

export interface UploadHeader {
  job: number;
  attempt: number;
  sequence: number;
  bytes: number;
  node: string;
}

export type UploadResult = { accepted: true } | { accepted: false; stale: boolean; reason: string };

class Refused extends Error {
  constructor(
    readonly stale: boolean,
    message: string,
  ) {
    super(message);
  }
}

export class ImageStore {
  readonly store: LocalStore;
  readonly #db: Db;
  /** Jobs whose image is between its final fencing check and its record: not placeable. */
  readonly committing = new Set<number>();

  constructor(db: Db, dir: string) {
    this.#db = db;
    this.store = LocalStore.open({ dir, keepImages: SCHEDULER_KEEP_IMAGES });
  }

  get key(): Buffer {
    return this.store.key;
  }

  list(job: number): ImageRow[] {
    return this.#db.prepare<[number], ImageRow>(`SELECT * FROM images WHERE job = ? ORDER BY sequence`).all(job);
  }

  count(job: number): number {
    return (this.#db.prepare(`SELECT COUNT(*) AS n FROM images WHERE job = ?`).get(job) as { n: number }).n;
  }

  file(job: number, sequence: number): string {
    return this.store.imageFile(storeJobName(job), sequence);
  }

  /**
   * What a new attempt restores from: the newest image whose bases are all held, preceded by
   * those bases (oldest first). Empty when the job has no usable image.
   */
  restorePlan(job: number): ImageRow[] {
    const rows = this.list(job);
    const bySequence = new Map(rows.map((r) => [r.sequence, r]));
    for (let i = rows.length - 1; i >= 0; i--) {
      const bases = (JSON.parse(rows[i]!.bases_json) as number[]).map((b) => bySequence.get(b));
      if (bases.every((b) => b !== undefined)) return [...(bases as ImageRow[]).sort((a, b) => a.sequence - b.sequence), rows[i]!];
    }
    return [];
  }

  /** Receives one image; `isCurrent` is the fencing check, asked before and after the bytes. */
  async receive(header: UploadHeader, parts: AsyncIterable<{ chunk?: Buffer; sha256?: string }>, isCurrent: () => boolean): Promise<UploadResult> {
    const { job, sequence } = header;
    const name = storeJobName(job);
    try {
      if (!isCurrent()) throw new Refused(true, `attempt ${header.attempt} is not the current attempt of job ${job}`);
      const existing = this.#db.prepare(`SELECT sha256 FROM images WHERE job = ? AND sequence = ?`).get(job, sequence) as { sha256: string } | undefined;
      if (existing !== undefined) throw new Refused(false, `image ${sequence} of job ${job} is already stored`);
      // A file without a record was linked by a scheduler that died before recording it.
      fs.rmSync(this.file(job, sequence), { force: true });
      let sha256 = '';
      const codec = await getCodec();
      await this.store.commit(name, sequence, async (handle, temp) => {
        const hash = createHash('sha256');
        let received = 0;
        let trailer: string | null = null;
        for await (const part of parts) {
          if (part.chunk) {
            if (trailer !== null) throw new Refused(false, 'a chunk after the trailer');
            received += part.chunk.length;
            if (received > header.bytes) throw new Refused(false, `more than the ${header.bytes} bytes announced`);
            hash.update(part.chunk);
            await handle.write(part.chunk);
          } else if (part.sha256 !== undefined) {
            trailer = part.sha256;
          }
        }
        sha256 = hash.digest('hex');
        if (trailer === null) throw new Refused(false, 'the upload ended without its trailer (the sender stopped mid-image)');
        if (received !== header.bytes) throw new Refused(false, `received ${received} bytes, ${header.bytes} announced`);
        if (trailer !== sha256) throw new Refused(false, `sha256 mismatch: sent ${trailer}, received ${sha256}`);
        // The bytes arrived whole; now the image itself: its tag (the cluster's key), its manifest
        // (this job, this number) and every block's stored hash, through the bases it shares
        // blocks with (uploaded before it, beside it in the store). Before the link, so that an
        // image that does not verify is never listed, kept by retention or served.
        await handle.sync();
        let reader: ImageReader | null = null;
        try {
          reader = ImageReader.open(temp, { codec, key: this.key, expect: { job: name, sequence } });
          reader.verifyStored();
        } catch (err) {
          if (err instanceof CrError) throw new Refused(false, `image ${sequence} of job ${job} does not verify: ${err.message}`);
          throw err;
        } finally {
          reader?.close();
        }
        if (!isCurrent()) throw new Refused(true, `attempt ${header.attempt} of job ${job} was superseded during the upload`);
        this.committing.add(job);
      });
      const file = this.file(job, sequence);
      const bases = readBasesUnverified(file);
      this.#db
        .prepare(`INSERT INTO images (job, sequence, attempt, node, bytes, sha256, bases_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(job, sequence, header.attempt, header.node, header.bytes, sha256, JSON.stringify(bases), Date.now());
      this.#forgetPruned(job);
      return { accepted: true };
    } catch (err) {
      if (err instanceof Refused) return { accepted: false, stale: err.stale, reason: err.message };
      return { accepted: false, stale: false, reason: (err as Error).message };
    } finally {
      this.committing.delete(job);
    }
  }

  /** Records of images the store's retention removed. */
  #forgetPruned(job: number): void {
    const onDisk = new Set(this.store.list(storeJobName(job)).map((e) => e.sequence));
    for (const row of this.list(job)) {
      if (!onDisk.has(row.sequence)) this.#db.prepare(`DELETE FROM images WHERE job = ? AND sequence = ?`).run(job, row.sequence);
    }
  }

  /** A job that ended keeps its images (for `images JOB`) until removed by an operator. */
  remove(job: number): void {
    fs.rmSync(this.store.jobDir(storeJobName(job)), { recursive: true, force: true });
    this.#db.prepare(`DELETE FROM images WHERE job = ?`).run(job);
  }
}
