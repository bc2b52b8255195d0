// The key that tags a job's images in a cluster (scheduler/job-key.ts): derived with HKDF-SHA256
// from the cluster key and the job id, so that each job's key is its own and tells nothing of the
// cluster key or of another job's.
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { ImageReader } from '../../src/image/reader.js';
import { uploadImage } from '../../scheduler/agent/transfer.js';
import { jobImageKey, JOB_KEY_BYTES, JOB_KEY_INFO } from '../../scheduler/job-key.js';
import { schedulerClient, transferClients, unary } from '../../scheduler/proto/load.js';
import { tempDir } from '../runner/helpers.js';
import { codecs, header, region, writeImage } from '../image/helpers.js';
import { adminToken, createToken, startScheduler } from './helpers.js';

test('A job key is HKDF-SHA256 of the cluster key with the info "cr image key v1 <job>", 32 bytes, the same every time.', (t) => {
  const cluster = randomBytes(32);
  const key = jobImageKey(cluster, 17);
  t.is(key.length, JOB_KEY_BYTES);
  t.deepEqual(key, jobImageKey(cluster, 17));
  t.deepEqual(key, Buffer.from(hkdfSync('sha256', cluster, Buffer.alloc(0), `${JOB_KEY_INFO} 17`, 32)));
  // RFC 5869 by hand (extract with an all-zero salt, then one expand block): the documented derivation.
  const prk = createHmac('sha256', Buffer.alloc(32)).update(cluster).digest();
  t.deepEqual(key, createHmac('sha256', prk).update(Buffer.concat([Buffer.from('cr image key v1 17'), Buffer.from([1])])).digest());
});

test('Different jobs, or the same job under another cluster key, get different keys, none of them the cluster key.', (t) => {
  const cluster = randomBytes(32);
  const keys = [1, 2, 3, 12, 21, 123].map((job) => jobImageKey(cluster, job).toString('hex'));
  t.is(new Set(keys).size, keys.length);
  t.false(keys.includes(cluster.toString('hex')));
  t.notDeepEqual(jobImageKey(randomBytes(32), 1), jobImageKey(cluster, 1));
});

test('A job id that is not a positive whole number, or a cluster key too short, is refused with a RangeError.', (t) => {
  for (const job of [0, -1, 1.5, Number.NaN, 2 ** 53]) t.throws(() => jobImageKey(randomBytes(32), job), { instanceOf: RangeError, message: /a job id is a positive whole number/ });
  t.throws(() => jobImageKey(randomBytes(8), 1), { instanceOf: RangeError, message: /has 8 bytes; it has at least 16/ });
});

test("An image tagged with job A's key does not verify under job B's key or the cluster key: ImageAuthError.", async (t) => {
  const cluster = randomBytes(32);
  const file = path.join(tempDir(t, 'job-key'), '00000001.crimg');
  const { main } = await codecs();
  await writeImage(file, { codec: main, key: jobImageKey(cluster, 1) }, [region('grid', 'Float64Array', randomBytes(64 << 10))], header('job-2', 1));
  t.true(fs.existsSync(file));
  ImageReader.open(file, { codec: main, key: jobImageKey(cluster, 1), expect: { job: 'job-2', sequence: 1 } }).close();
  for (const key of [jobImageKey(cluster, 2), cluster]) {
    const err = t.throws(() => ImageReader.open(file, { codec: main, key, expect: { job: 'job-2', sequence: 1 } }));
    t.is(err?.name, 'ImageAuthError');
    t.is((err as { code?: string }).code, 'CR_IMAGE_AUTH');
  }
});

test("End to end, a real scheduler refuses job B's image tagged with job A's key, keeps nothing of it, and accepts it under B's key.", async (t) => {
  const scheduler = await startScheduler(t, { leaseS: 60 });
  const admin = schedulerClient(scheduler.address, { token: adminToken(scheduler.address) });
  const credentials = { token: await createToken(scheduler.address, 'agent'), node: 'n1' };
  const node = schedulerClient(scheduler.address, credentials);
  const lanes = transferClients(scheduler.address, credentials, 1);
  const connect = node.Connect({ node: 'n1', slots: 2, running: [], version: 'test' });
  t.teardown(() => {
    connect.cancel();
    for (const c of [admin, node, ...lanes]) c.close();
  });
  connect.on('error', () => undefined);
  // The cluster key as an agent gets it, and the two jobs' attempts.
  const assigned = new Promise<{ key: Buffer; attempts: Map<number, { attempt: number; secret: string }> }>((resolve) => {
    let key: Buffer;
    const attempts = new Map<number, { attempt: number; secret: string }>();
    connect.on('data', (c) => {
      if (c.command === 'registered') key = c.registered.imageKey as Buffer;
      if (c.command === 'assign') attempts.set(c.assign.job, { attempt: c.assign.attempt, secret: c.assign.secret });
      if (attempts.size === 2) resolve({ key, attempts });
    });
  });
  const submitJob = async (): Promise<number> => (await unary(admin, 'Submit', { name: 'keyed', code: Buffer.from('export default async () => 1'), argsJson: '{}', retries: 0 })).id;
  const a = await submitJob();
  const b = await submitJob();
  const { key, attempts } = await assigned;
  const { main } = await codecs();
  const dir = tempDir(t, 'keyed');
  const forged = path.join(dir, 'forged.crimg');
  await writeImage(forged, { codec: main, key: jobImageKey(key, a) }, [region('grid', 'Float64Array', randomBytes(64 << 10))], header(`job-${b}`, 1));
  const refused = await uploadImage(lanes, { job: b, ...attempts.get(b)!, sequence: 1, node: 'n1', file: forged });
  t.like(refused, { accepted: false, stale: false });
  t.regex(refused.reason, /image 1 of job \d+ does not verify: .*(tag|key)/);
  t.deepEqual((await unary(admin, 'ListImages', { job: b })).images, []);
  t.false(fs.existsSync(path.join(scheduler.dataDir, 'images', `job-${b}`, '00000001.crimg')));
  const genuine = path.join(dir, 'genuine.crimg');
  await writeImage(genuine, { codec: main, key: jobImageKey(key, b) }, [region('grid', 'Float64Array', randomBytes(64 << 10))], header(`job-${b}`, 1));
  t.like(await uploadImage(lanes, { job: b, ...attempts.get(b)!, sequence: 1, node: 'n1', file: genuine }), { accepted: true });
  t.is((await unary(admin, 'ListImages', { job: b })).images.length, 1);
});
