// Images recorded before per-job keys (tagged with the cluster key) are re-tagged with their job's
// key once, at the scheduler's first start with per-job keys (scheduler/server/legacy-images.ts).
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { getCodec } from '../../../src/codec/index.js';
import { ImageReader } from '../../../src/image/reader.js';
import { retagLegacyImages } from '../../../scheduler/server/legacy-images.js';
import { core, imageBytes, submit } from './helpers.js';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

test("Images tagged with the cluster key are re-tagged with their job's key and their sha256 recorded again, once; others are left as they are.", async (t) => {
  const c = await core(t);
  const id = await submit(c);
  const store = async (sequence: number, bytes: Buffer): Promise<void> => {
    const file = c.images.file(id, sequence);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, bytes);
    await c.db.q.insertInto('images').values({ job: id, sequence, attempt: 1, node: 'n1', bytes: bytes.length, sha256: sha256(bytes), bases_json: '[]', created_at: 0 }).execute();
  };
  const legacy = [await imageBytes(t, c.images.key, `job-${id}`, 1), await imageBytes(t, c.images.key, `job-${id}`, 2)];
  const current = await imageBytes(t, c.images.jobKey(id), `job-${id}`, 3);
  const otherKey = await imageBytes(t, randomBytes(32), `job-${id}`, 4);
  const garbage = randomBytes(4096);
  await store(1, legacy[0]!);
  await store(2, legacy[1]!);
  await store(3, current);
  await store(4, otherKey);
  await store(5, garbage);
  const lines: string[] = [];
  t.is(await retagLegacyImages(c.db, c.images, (l) => lines.push(l)), 2);
  const codec = await getCodec();
  for (const sequence of [1, 2, 3]) {
    const file = c.images.file(id, sequence);
    const reader = ImageReader.open(file, { codec, key: c.images.jobKey(id), expect: { job: `job-${id}`, sequence } });
    reader.verifyStored();
    reader.close();
    t.is((await c.images.list(id)).find((r) => r.sequence === sequence)!.sha256, sha256(fs.readFileSync(file)), `the record of image ${sequence} holds its sha256`);
  }
  // Only the tag changed: the rest of each image is the same bytes.
  const retagged = fs.readFileSync(c.images.file(id, 1));
  t.is(retagged.length, legacy[0]!.length);
  t.true(retagged.subarray(0, -40).equals(legacy[0]!.subarray(0, -40)));
  t.false(retagged.equals(legacy[0]!));
  t.true(fs.readFileSync(c.images.file(id, 3)).equals(current), 'an image under its job key is untouched');
  t.true(fs.readFileSync(c.images.file(id, 4)).equals(otherKey), 'an image that verifies under no key is untouched');
  t.true(fs.readFileSync(c.images.file(id, 5)).equals(garbage), 'what is no image is untouched');
  t.regex(lines.join('\n'), /image 4 of job \d+ verifies under neither its job's key nor the cluster key/);
  t.regex(lines.join('\n'), /re-tagged 2 images written before per-job image keys/);
  t.deepEqual(fs.readdirSync(path.dirname(c.images.file(id, 1))).filter((n) => n.includes('tmp')), [], 'no temp file is left');
  // Done once: a later start does not scan again.
  await store(6, await imageBytes(t, c.images.key, `job-${id}`, 6));
  t.is(await retagLegacyImages(c.db, c.images, (l) => lines.push(l)), 0);
});
