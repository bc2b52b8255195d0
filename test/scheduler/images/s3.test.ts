// The shared image store in S3-compatible object storage, against a real S3-protocol server
// (s3rver on loopback): multipart images larger than one part, immutable objects, a missing
// object, and a store that goes away in the middle of an upload.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { tempDir } from '../../runner/helpers.js';
import { DEFAULT_PART_BYTES, S3Store } from '../../../scheduler/images/s3.js';
import { objectName, SharedStoreError } from '../../../scheduler/images/store.js';
import { piecesDigest, sha } from './pieces.js';
import { BUCKET, S3_ENV, startCuttingRelay, startS3 } from './s3-server.js';

Object.assign(process.env, S3_ENV);

function fileOf(t: Parameters<typeof tempDir>[0], bytes: Buffer): string {
  const file = path.join(tempDir(t, 'image-src'), 'image.crimg');
  fs.writeFileSync(file, bytes);
  return file;
}


function open(t: Parameters<typeof tempDir>[0], endpoint: string): S3Store {
  const store = S3Store.open(`s3://${BUCKET}/cluster/images`, { endpoint, partBytes: DEFAULT_PART_BYTES });
  t.teardown(() => store.close());
  return store;
}

test('An image of three parts is uploaded in parts and read back whole, by range and by size.', async (t) => {
  const s3 = await startS3(t);
  const store = open(t, s3.endpoint);
  const bytes = randomBytes(2 * DEFAULT_PART_BYTES + 12345);
  const name = objectName(5, 2, 1);
  t.deepEqual(await store.put(name, fileOf(t, bytes)), { bytes: bytes.length, sha256: piecesDigest(bytes) }, 'two pieces of the digest, three parts');
  t.is(await store.size(name), bytes.length);
  t.deepEqual(await store.read(name, DEFAULT_PART_BYTES - 10, 20), bytes.subarray(DEFAULT_PART_BYTES - 10, DEFAULT_PART_BYTES + 10));
  const out = path.join(tempDir(t, 'fetch'), 'image.crimg');
  t.deepEqual(await store.fetch(name, out, 'pieces'), { bytes: bytes.length, sha256: piecesDigest(bytes) });
  t.true(fs.readFileSync(out).equals(bytes));
  // An image an older agent recorded with its whole sha256 is checked with that.
  t.deepEqual(await store.fetch(name, `${out}.old`, 'sha256'), { bytes: bytes.length, sha256: sha(bytes) });
});

test('An S3 object is never replaced: the same bytes again are a retry, other bytes are refused with CR_IMAGE_STORE_EXISTS.', async (t) => {
  const s3 = await startS3(t);
  const store = open(t, s3.endpoint);
  const name = objectName(1, 1, 1);
  const first = randomBytes(1 << 20);
  await store.put(name, fileOf(t, first));
  t.deepEqual(await store.put(name, fileOf(t, first)), { bytes: first.length, sha256: piecesDigest(first) });
  const err = await t.throwsAsync(store.put(name, fileOf(t, randomBytes(1 << 20))), { instanceOf: SharedStoreError });
  t.is(err?.code, 'CR_IMAGE_STORE_EXISTS');
  const out = path.join(tempDir(t, 'fetch'), 'image.crimg');
  t.is((await store.fetch(name, out, 'pieces')).sha256, piecesDigest(first));
});

test('A missing S3 object is CR_IMAGE_STORE_MISSING to fetch and read, and has no size; a missing bucket is a failure, not a missing image.', async (t) => {
  const s3 = await startS3(t);
  const store = open(t, s3.endpoint);
  const name = objectName(2, 5, 1);
  t.is(await store.size(name), null);
  const out = path.join(tempDir(t, 'fetch'), 'image.crimg');
  t.is((await t.throwsAsync(store.fetch(name, out, 'pieces'), { instanceOf: SharedStoreError }))?.code, 'CR_IMAGE_STORE_MISSING');
  t.is((await t.throwsAsync(store.read(name, 0, 10), { instanceOf: SharedStoreError }))?.code, 'CR_IMAGE_STORE_MISSING');
  t.false(fs.existsSync(out));
  const other = S3Store.open('s3://no-such-bucket', { endpoint: s3.endpoint });
  t.teardown(() => other.close());
  t.is((await t.throwsAsync(other.fetch(name, out, 'pieces'), { instanceOf: SharedStoreError }))?.code, 'CR_IMAGE_STORE_FAILED');
});

test('An S3 store that goes away in the middle of a multipart upload fails the put with CR_IMAGE_STORE_FAILED and leaves no object of that name.', async (t) => {
  const s3 = await startS3(t);
  // Every connection is cut once a part and a half have gone towards the server.
  const relay = await startCuttingRelay(t, s3.port, Math.floor(1.5 * DEFAULT_PART_BYTES));
  const store = open(t, relay.endpoint);
  const name = objectName(6, 1, 1);
  const err = await t.throwsAsync(store.put(name, fileOf(t, randomBytes(3 * DEFAULT_PART_BYTES))), { instanceOf: SharedStoreError });
  t.is(err?.code, 'CR_IMAGE_STORE_FAILED');
  await relay.cut;
  t.is(await open(t, s3.endpoint).size(name), null, 'no object appeared');
});

test('Removing S3 objects and all of a job\'s: what is gone is not an error.', async (t) => {
  const s3 = await startS3(t);
  const store = open(t, s3.endpoint);
  const file = fileOf(t, randomBytes(1000));
  for (const seq of [1, 2, 3]) await store.put(objectName(4, seq, 1), file);
  await store.put(objectName(40, 1, 1), file);
  await store.remove([objectName(4, 1, 1), objectName(4, 9, 1)]);
  t.is(await store.size(objectName(4, 1, 1)), null);
  t.is(await store.size(objectName(4, 2, 1)), 1000);
  await store.removeAll('job-4/');
  t.is(await store.size(objectName(4, 3, 1)), null);
  t.is(await store.size(objectName(40, 1, 1)), 1000, 'job-40 is not under job-4/');
});

test('A location that is not s3://BUCKET[/PREFIX] is refused with CR_IMAGE_STORE_LOCATION.', (t) => {
  for (const bad of ['s3://', 's3://A_B/x', 'http://bucket']) {
    t.is(t.throws(() => S3Store.open(bad), { instanceOf: SharedStoreError })?.code, 'CR_IMAGE_STORE_LOCATION', bad);
  }
});
