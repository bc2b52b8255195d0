// Images a scheduler recorded before each job had a key of its own were tagged with the cluster
// key. On its first start with per-job keys (job-key.ts) the scheduler re-tags each of them with
// its job's key, once, so that jobs resume from them as from any other image. Only the scheduler
// and agents hold the cluster key, and every such image was verified when it was uploaded: an
// image whose tag verifies under the cluster key was recorded before the change (or made by a
// holder of the cluster key, who can derive every job's key anyway).
//
// Crash consistency: the re-tagged copy is written and synced beside the image, its sha256
// recorded, then renamed over the image and the directory synced. A crash before the rename
// leaves the old image, re-tagged again at the next start into the same bytes (the tag is a
// deterministic HMAC), so the recorded sha256 holds either way; `meta.image_keys` is set last.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FOOTER_LENGTH, fsyncDirSync, getCodec, HEADER_LENGTH, ImageReader, imageTag } from '../../src/internal.js';
import { CrError } from '../../src/index.js';
import { storeJobName } from '../names.js';
import type { ImageStore } from './images.js';
import { setMeta, type Db } from './db.js';

const META_KEY = 'image_keys';
const META_VALUE = 'per-job v1';

/** Re-tags the images tagged with the cluster key (see above); returns how many it re-tagged. */
export async function retagLegacyImages(db: Db, images: ImageStore, log: (line: string) => void): Promise<number> {
  const done = await db.q.selectFrom('meta').select('value').where('key', '=', META_KEY).executeTakeFirst();
  if (done?.value === META_VALUE) return 0;
  const codec = await getCodec();
  const rows = await db.q.selectFrom('images').select(['job', 'sequence']).orderBy('job').orderBy('sequence').execute();
  let retagged = 0;
  for (const { job, sequence } of rows) {
    const file = images.file(job, sequence);
    const expect = { job: storeJobName(job), sequence };
    if (opens(file, images.jobKey(job), expect, codec) !== 'auth') continue;
    if (opens(file, images.key, expect, codec) !== 'ok') {
      log(`image ${sequence} of job ${job} verifies under neither its job's key nor the cluster key: left as it is (a restore passes it over)`);
      continue;
    }
    await retag(file, images.jobKey(job), async (temp) => {
      const sha256 = sha256Of(temp);
      await db.write(() => db.q.updateTable('images').set({ sha256 }).where('job', '=', job).where('sequence', '=', sequence).execute());
    });
    retagged++;
  }
  await setMeta(db, META_KEY, META_VALUE);
  if (retagged > 0) log(`re-tagged ${retagged} image${retagged === 1 ? '' : 's'} written before per-job image keys with their jobs' keys`);
  return retagged;
}

type Opened = 'ok' | 'auth' | 'other';

function opens(file: string, key: Buffer, expect: { job: string; sequence: number }, codec: Parameters<typeof ImageReader.open>[1]['codec']): Opened {
  try {
    ImageReader.open(file, { codec, key, expect }).close();
    return 'ok';
  } catch (err) {
    return err instanceof CrError && err.code === 'CR_IMAGE_AUTH' ? 'auth' : 'other';
  }
}

/** Writes `file` with its tag made under `key` to a temp file, calls `record(temp)`, then renames it over `file`. */
async function retag(file: string, key: Buffer, record: (temp: string) => Promise<void>): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.retag.tmp`);
  fs.rmSync(temp, { force: true });
  fs.copyFileSync(file, temp);
  const fd = fs.openSync(temp, 'r+');
  try {
    const size = fs.fstatSync(fd).size;
    const header = Buffer.alloc(HEADER_LENGTH);
    const footer = Buffer.alloc(FOOTER_LENGTH);
    fs.readSync(fd, header, 0, HEADER_LENGTH, 0);
    fs.readSync(fd, footer, 0, FOOTER_LENGTH, size - FOOTER_LENGTH);
    const manifest = Buffer.alloc(Number(footer.readBigUInt64LE(8)));
    fs.readSync(fd, manifest, 0, manifest.length, Number(footer.readBigUInt64LE(0)));
    fs.writeSync(fd, imageTag(key, header, footer, manifest), 0, 32, size - FOOTER_LENGTH + 24);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  await record(temp);
  fs.renameSync(temp, file);
  fsyncDirSync(path.dirname(file));
}

function sha256Of(file: string): string {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(4 << 20);
  const fd = fs.openSync(file, 'r');
  try {
    for (let n; (n = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0; ) hash.update(buffer.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}
