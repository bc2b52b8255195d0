// Image transfer between an agent and a real scheduler process on loopback: a large image goes
// up on one stream (its chunk buffers reused) or as parallel parts on connections of their own,
// and comes back identical, a download can ask for a byte range, and a part whose connection is
// dropped mid-part fails the whole upload, leaving no temp file and no image.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { downloadImage, partRanges, uploadImage } from '../../../scheduler/agent/transfer.js';
import { CHUNKS_IN_FLIGHT } from '../../../scheduler/file-chunks.js';
import { jobImageKey } from '../../../scheduler/job-key.js';
import { schedulerClient, transferClients, unary, type SchedulerClient } from '../../../scheduler/proto/load.js';
import type { ImageChunk__Output, UploadImageReply__Output } from '../../../scheduler/proto/types.js';
import { tempDir } from '../../runner/helpers.js';
import { codecs, header, region, writeImage } from '../../image/helpers.js';
import { adminToken, createToken, startScheduler, waitFor, type SchedulerProcess } from '../helpers.js';
import { HANG_GUARD_MS } from '../../hang-guard.js';

const MiB = 1 << 20;

async function setup(t: ExecutionContext): Promise<{ scheduler: SchedulerProcess; admin: SchedulerClient; lanes: SchedulerClient[]; job: number; attempt: number; secret: string; key: Buffer }> {
  // A long lease: on a loaded machine this test's own heartbeats may come late.
  const scheduler = await startScheduler(t, { leaseS: 60, extra: ['--upload-idle-timeout', '20'] });
  const admin = schedulerClient(scheduler.address, { token: adminToken(scheduler.address) });
  const credentials = { token: await createToken(scheduler.address, 'agent') };
  const lanes = transferClients(scheduler.address, credentials, 3);
  const node = schedulerClient(scheduler.address, credentials);
  const connect = node.Connect({ node: 'n1', slots: 1, running: [], version: 'test' });
  t.teardown(() => {
    connect.cancel();
    for (const c of [admin, node, ...lanes]) c.close();
  });
  connect.on('error', () => undefined);
  const got = new Promise<{ key: Buffer; job: number; attempt: number; secret: string }>((resolve) => {
    let key: Buffer;
    connect.on('data', (c) => {
      if (c.command === 'registered') {
        key = c.registered.imageKey as Buffer;
        // The node keeps its lease, so that its attempt stays current.
        const session = c.registered.session;
        const beat = setInterval(() => void unary(node, 'Heartbeat', { node: 'n1', session }).catch(() => undefined), c.registered.heartbeatIntervalMs);
        t.teardown(() => clearInterval(beat));
      }
      // The job's images are tagged with its own key, derived as the agent derives it.
      if (c.command === 'assign') resolve({ key: jobImageKey(key, c.assign.job), job: c.assign.job, attempt: c.assign.attempt, secret: c.assign.secret });
    });
  });
  await unary(admin, 'Submit', { name: 'transfer', code: Buffer.from('export default async () => 1'), argsJson: '{}', retries: 0 });
  return { scheduler, admin, lanes, ...(await got) };
}

async function image(t: ExecutionContext, key: Buffer, job: number, sequence: number, bytes: number): Promise<string> {
  const file = path.join(tempDir(t, 'image'), 'image.crimg');
  const { main } = await codecs();
  await writeImage(file, { codec: main, key }, [region('noise', 'Uint8Array', randomBytes(bytes))], header(`job-${job}`, sequence));
  return file;
}

function jobDirEntries(scheduler: SchedulerProcess, job: number): string[] {
  const dir = path.join(scheduler.dataDir, 'images', `job-${job}`);
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

test('A 13 MiB image goes up as three parts on three connections, is stored whole, and comes back identical, whole or by byte range.', async (t) => {
  const { scheduler, admin, lanes, job, attempt, secret, key } = await setup(t);
  const file = await image(t, key, job, 1, 13 * MiB);
  const size = fs.statSync(file).size;
  t.is(partRanges(size, lanes.length).length, 3);
  t.deepEqual(await uploadImage(lanes, { job, attempt, sequence: 1, node: 'n1', secret, file }), { accepted: true, stale: false, reason: '' });
  const bytes = fs.readFileSync(file);
  const [stored] = (await unary(admin, 'ListImages', { job })).images;
  t.like(stored, { sequence: 1, bytes: size, sha256: createHash('sha256').update(bytes).digest('hex') });
  t.deepEqual(jobDirEntries(scheduler, job), ['00000001.crimg']);
  const back = path.join(tempDir(t, 'down'), 'back.crimg');
  t.is(await downloadImage(lanes, job, 1, stored!.sha256, back, { attempt, secret }), size);
  // Buffer.equals: ava's deepEqual walks 13 MiB byte by byte for a minute.
  t.true(fs.readFileSync(back).equals(bytes), 'the download is the image');
  // A byte range, as a parallel download asks for it.
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const call = lanes[1]!.DownloadImage({ job, sequence: 1, offset: 3 * MiB + 5, length: 2 * MiB + 7, attempt, secret });
    call.on('data', (c: ImageChunk__Output) => chunks.push(c.data as Buffer));
    call.on('error', reject);
    call.on('end', resolve);
  });
  t.true(Buffer.concat(chunks).equals(bytes.subarray(3 * MiB + 5, 5 * MiB + 12)), 'the range is those bytes of the image');
  const outside = lanes[0]!.DownloadImage({ job, sequence: 1, offset: size, length: 1, attempt, secret });
  const status = await new Promise<grpc.StatusObject>((resolve) => {
    outside.on('error', () => undefined);
    outside.on('status', resolve);
  });
  t.is(status.code, grpc.status.INVALID_ARGUMENT);
  t.regex(status.details, /are not inside image 1/);
});

test('A one-stream upload that reuses its chunk buffers many times stores the image byte for byte, recorded with the sha256 of the stored file.', async (t) => {
  const { scheduler, admin, lanes, job, attempt, secret, key } = await setup(t);
  // Three times the buffers a stream keeps, and a short last chunk.
  const file = await image(t, key, job, 1, 3 * CHUNKS_IN_FLIGHT * MiB + 12_345);
  const bytes = fs.readFileSync(file);
  t.true(bytes.length > 3 * CHUNKS_IN_FLIGHT * MiB);
  t.deepEqual(await uploadImage(lanes[0]!, { job, attempt, sequence: 1, node: 'n1', secret, file }), { accepted: true, stale: false, reason: '' });
  const storedFile = path.join(scheduler.dataDir, 'images', `job-${job}`, '00000001.crimg');
  const stored = fs.readFileSync(storedFile);
  t.true(stored.equals(bytes), 'the stored image is the one sent');
  const [record] = (await unary(admin, 'ListImages', { job })).images;
  t.is(record!.sha256, createHash('sha256').update(stored).digest('hex'), 'the record holds the sha256 of the file as stored');
  t.is(record!.bytes, bytes.length);
  // Large enough to be read through O_DIRECT on both sides: whole, and as byte ranges that start
  // on a page boundary and off one.
  const back = path.join(tempDir(t, 'down'), 'back.crimg');
  t.is(await downloadImage(lanes, job, 1, record!.sha256, back, { attempt, secret }), bytes.length);
  t.true(fs.readFileSync(back).equals(bytes), 'the download is the image');
  for (const [offset, length] of [[4 * MiB, 2 * MiB + 7], [3 * MiB + 5, 9 * MiB], [bytes.length - 12_345, 0]] as const) {
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = lanes[1]!.DownloadImage({ job, sequence: 1, offset, length, attempt, secret });
      call.on('data', (c: ImageChunk__Output) => chunks.push(c.data as Buffer));
      call.on('error', reject);
      call.on('end', resolve);
    });
    t.true(Buffer.concat(chunks).equals(bytes.subarray(offset, length > 0 ? offset + length : undefined)), `bytes ${offset} + ${length}`);
  }
});

test('A part whose connection is dropped mid-part fails the whole upload: the other part is told why, no temp file is left, nothing is stored.', async (t) => {
  const { scheduler, admin, lanes, job, attempt, secret, key } = await setup(t);
  const file = await image(t, key, job, 1, 9 * MiB);
  const bytes = fs.readFileSync(file);
  const half = 5 * MiB;
  const base = { job, attempt, sequence: 1, bytes: bytes.length, node: 'n1', secret, parts: 2, uploadId: 'dropped-upload-1' };
  const reply = new Promise<UploadImageReply__Output>((resolve, reject) => {
    const first = lanes[0]!.UploadImage((err, value) => (err ? reject(err) : resolve(value!)));
    first.write({ header: { ...base, part: 0, offset: 0, length: half } });
    for (let at = 0; at < half; at += MiB) first.write({ chunk: bytes.subarray(at, Math.min(half, at + MiB)) });
    first.write({ trailer: { sha256: createHash('sha256').update(bytes.subarray(0, half)).digest('hex') } });
    first.end();
  });
  const second = lanes[1]!.UploadImage(() => undefined);
  second.on('error', () => undefined);
  second.write({ header: { ...base, part: 1, offset: half, length: bytes.length - half } });
  second.write({ chunk: bytes.subarray(half, half + MiB) });
  // Dropped once the scheduler has written some of part 1 (the temp file then reaches past part 0).
  await waitFor('part 1 to be written in part', async () => {
    const temp = jobDirEntries(scheduler, job).find((n) => n.includes('.tmp.'));
    return temp && fs.statSync(path.join(scheduler.dataDir, 'images', `job-${job}`, temp)).size > half ? true : undefined;
  }, HANG_GUARD_MS, 20);
  second.cancel();
  const result = await reply;
  t.like(result, { accepted: false, stale: false });
  t.regex(result.reason, /part 1 of 2 \(bytes \d+–\d+\)(: the connection dropped after| ended after) \d+ of \d+ bytes/);
  t.deepEqual(jobDirEntries(scheduler, job), [], 'no temp file, no image');
  t.deepEqual((await unary(admin, 'ListImages', { job })).images, []);
});
