// Images in S3-compatible object storage (serve --images s3://…), against a real S3-protocol
// server: agents write multipart images straight to it, the scheduler records each from its
// checked manifest (bases included), and an image missing at restore makes the scheduler fall
// back to the image before it, recorded as an event, with no retry spent and the uninterrupted result.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { DirectoryStore } from '../../../scheduler/images/directory.js';
import { SchedulerCore, SchedulerError } from '../../../scheduler/server/scheduler.js';
import { newKey } from '../../image/helpers.js';
import { imageBytes, LEASE_MS, Sink, submit as submitTo } from './helpers.js';
import { tempDir, uninterruptedResult } from '../../runner/helpers.js';
import { DEFAULT_PART_BYTES, S3Store } from '../../../scheduler/images/s3.js';
import { objectName } from '../../../scheduler/images/store.js';
import { keptSequences } from '../../../scheduler/server/shared-images.js';
import { CLUSTER_JOB, client, finished, job, startScheduler, submit, waitFor } from '../helpers.js';
import { logText, startAgentIn } from '../images/cluster.js';
import { BUCKET, S3_ENV, startS3 } from '../images/s3-server.js';
import { piecesDigest } from '../images/pieces.js';

test('With an S3 store, images larger than one part go to it from the agent, and one missing at restore makes the scheduler fall back to the image before it.', async (t) => {
  const s3 = await startS3(t);
  const location = `s3://${BUCKET}/cr`;
  // 8 MiB of region that does not compress: the full image is larger than one part. Attempt 1 holds at step 100.
  const args = { steps: 200, stepMs: 5, length: 1 << 20, holdAt: 100, holdAttempts: 1, noise: true };
  const expected = uninterruptedResult(CLUSTER_JOB, { steps: 200, stepMs: 0, length: 1 << 20, noise: true });
  const scheduler = await startScheduler(t, { extra: ['--images', location, '--images-endpoint', s3.endpoint], env: S3_ENV });
  const cluster = client(t, scheduler.address);
  const a = await startAgentIn(t, scheduler.address, 'a', tempDir(t, 'agent-a'), S3_ENV);
  const id = await submit(t, scheduler.address, CLUSTER_JOB, args, ['--interval', '3600', '--retries', '0']);
  await waitFor('attempt 1 to hold', async () => ((await job(cluster, id)).message === 'step 100' ? true : undefined));
  for (const n of [1, 2]) {
    await cluster.call('Checkpoint', { job: id });
    await waitFor(`image ${n}`, async () => ((await cluster.call('ListImages', { job: id })).images.length === n ? true : undefined));
  }
  const images = (await cluster.call('ListImages', { job: id })).images;
  t.true(Number(images[0]!.bytes) > DEFAULT_PART_BYTES, `image 1 is ${images[0]!.bytes} bytes, more than one part`);
  t.deepEqual(images[1]!.bases, [images[0]!.sequence], "the record's bases are those of the image's checked manifest");

  a.child.kill('SIGKILL');
  await a.exit;
  // The newest image is lost from the store.
  Object.assign(process.env, S3_ENV);
  const store = S3Store.open(location, { endpoint: s3.endpoint });
  t.teardown(() => store.close());
  const lost = images[1]!;
  await store.remove([objectName(id, lost.sequence, lost.attempt)]);
  t.is(await store.size(objectName(id, lost.sequence, lost.attempt)), null);
  await startAgentIn(t, scheduler.address, 'b', tempDir(t, 'agent-b'), S3_ENV);

  const done = await finished(cluster, id);
  t.is(done.state, 'succeeded', done.errorJson);
  t.deepEqual(JSON.parse(done.resultJson), await expected);
  t.is(done.retriesUsed, 0, 'neither the lost node nor the missing image spent a retry');
  const text = logText((await cluster.call('GetLogs', { job: id, after: 0 })).lines);
  t.regex(text, new RegExp(`image ${lost.sequence} could not be used: .*not|NoSuchKey|missing`, 'i'));
  t.regex(text, new RegExp(`image ${lost.sequence} could not be used \\(missing or damaged where stored\\): forgotten, falling back to an older image`));
  t.regex(text, new RegExp(`on node b: resumed from image ${images[0]!.sequence}`));
  t.regex(text, new RegExp(`image ${images[0]!.sequence}: read from the image store ${location}`));
  t.deepEqual((await cluster.call('ListImages', { job: id })).images.map((i) => i.sequence).includes(lost.sequence), false, 'the missing image is no longer listed');
});

test("The shared store keeps a job's newest images and every image they share blocks with; an image whose bases are unknown keeps all older ones.", (t) => {
  const images = (list: [number, number[] | null][]) => list.map(([sequence, bases]) => ({ sequence, bases }));
  t.deepEqual([...keptSequences(images([[1, []], [2, [1]], [3, [1]], [4, []], [5, [4]], [6, [4]]]), 3)].sort(), [4, 5, 6]);
  t.deepEqual([...keptSequences(images([[1, []], [2, [1]], [3, [1]], [4, [1]], [5, []]]), 3)].sort(), [1, 3, 4, 5]);
  t.deepEqual([...keptSequences(images([[1, []], [2, [1]], [3, null], [4, []], [5, []]]), 3)].sort(), [1, 2, 3, 4, 5]);
});

test('An image in the shared store is recorded only after its size, tag and manifest check from the store; a stale attempt\'s is refused as stale; nothing is uploaded to the scheduler.', async (t) => {
  const shared = DirectoryStore.open(tempDir(t, 'shared'));
  const c = await SchedulerCore.open({ dataDir: tempDir(t, 'core'), leaseTimeoutMs: LEASE_MS, sharedImages: shared });
  t.teardown(() => c.close().catch(() => undefined));
  const id = await submitTo(c);
  const sink = new Sink();
  await c.connect({ node: 'n1', slots: 1, running: [], version: '' }, sink);
  t.like(sink.of('registered')[0]!.registered, { imageStore: shared.location });
  const none = (async function* () {})();
  // Recorded with the digest the store's put gives, as an agent does (or `digest`: what an older agent or a forger sends).
  const record = async (bytes: Buffer | null, sequence = 1, attempt = 1, declared?: number, digest?: string) => {
    let stored = createHash('sha256').update(bytes ?? '').digest('hex');
    if (bytes !== null) {
      const file = path.join(tempDir(t, 'src'), 'image.crimg');
      fs.writeFileSync(file, bytes);
      fs.rmSync(path.join(shared.dir, objectName(id, sequence, attempt)), { force: true });
      stored = (await shared.put(objectName(id, sequence, attempt), file)).sha256;
    }
    return await c.upload({ job: id, attempt, sequence, bytes: declared ?? bytes?.length ?? 1000, node: 'n1', storedSha256: digest ?? stored }, none);
  };
  const good = await imageBytes(t, c.images.jobKey(id), `job-${id}`, 1);
  const cases: [string, () => ReturnType<typeof record>, RegExp][] = [
    ['nothing in the store', () => record(null, 1), /is not in the image store/],
    ['another size than the agent says', () => record(good, 1, 1, good.length + 1), /is \d+ bytes, the agent says/],
    ['another key', async () => record(await imageBytes(t, newKey(), `job-${id}`, 1)), /does not verify: .*tag/],
    ["another job's name under this job's key", async () => record(await imageBytes(t, c.images.jobKey(id), `job-${id + 1}`, 1)), /does not verify: .*job/],
    ['another number', async () => record(await imageBytes(t, c.images.jobKey(id), `job-${id}`, 7)), /does not verify: .*(sequence|number)/],
    ['no digest', () => record(good, 1, 1, undefined, 'f00d'), /"f00d" is not an image digest/],
  ];
  for (const [what, run, reason] of cases) {
    const refused = await run();
    t.like(refused, { accepted: false, stale: false }, what);
    t.regex((refused as { reason: string }).reason, reason, what);
  }
  t.deepEqual(await c.listImages(id), []);
  t.like(await record(good, 1, 2), { accepted: false, stale: true }, "attempt 2 is not the job's current attempt");
  t.deepEqual(await record(good), { accepted: true });
  t.deepEqual(await record(good), { accepted: true }, 'a retry of the same record');
  t.like(await record(null, 1, 1, good.length), { accepted: false, stale: false, reason: `image 1 of job ${id} is already stored` }, 'another sha256 for a recorded image');
  t.like(await c.listImages(id), [{ sequence: 1, attempt: 1, bases: [], sha256: piecesDigest(good) }]);
  const older = await imageBytes(t, c.images.jobKey(id), `job-${id}`, 3);
  t.deepEqual(await record(older, 3, 1, undefined, createHash('sha256').update(older).digest('hex')), { accepted: true }, "an older agent's whole sha256");
  const uploaded = await c.upload({ job: id, attempt: 1, sequence: 2, bytes: good.length, node: 'n1' }, none);
  t.like(uploaded, { accepted: false, stale: false });
  t.regex((uploaded as { reason: string }).reason, /keeps images in the shared image store/);
  const err = await t.throwsAsync(c.imageFile(id, 1), { instanceOf: SchedulerError, message: /agents read them there/ });
  t.is(err?.status, 'FAILED_PRECONDITION');
});
