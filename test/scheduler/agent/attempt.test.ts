// An attempt on an agent, against a real scheduler and real agents as processes on loopback:
// when the newest image cannot be used (damaged on the scheduler's disk), the attempt falls back
// to an older one the scheduler holds instead of failing, and no retry is spent on it.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import type { CliProcess } from '../../runner/helpers.js';
import { tempDir, uninterruptedResult } from '../../runner/helpers.js';
import { CLUSTER_JOB, client, finished, job, startAgent, startScheduler, submit, waitFor } from '../helpers.js';
import { FOOTER_LENGTH, HEADER_LENGTH } from '../../../src/image/format.js';

/**
 * A byte inside an image's blocks: halfway between its header and its manifest (which its footer
 * locates). These images are a few KiB: a fixed offset such as 4096 can lie past the end of one,
 * where damaging it changes nothing.
 */
function blockByte(image: Buffer): number {
  const manifestOffset = Number(image.readBigUInt64LE(image.length - FOOTER_LENGTH));
  return HEADER_LENGTH + Math.floor((manifestOffset - HEADER_LENGTH) / 2);
}

test("An attempt whose newest image arrives damaged resumes from an older image the scheduler holds, spending no retry, and ends with an uninterrupted run's result.", async (t) => {
  const args = { steps: 300, stepMs: 15, length: 1 << 19 };
  const expected = uninterruptedResult(CLUSTER_JOB, args);
  // A lease only the SIGKILL below ends: a 3 s one ran out under load before it, and the job
  // moved with images the test had not damaged.
  const scheduler = await startScheduler(t, { leaseS: 20 });
  const agents = new Map<string, CliProcess>([['a', await startAgent(t, scheduler.address, 'a')]]);
  const cluster = client(t, scheduler.address);
  const id = await submit(t, scheduler.address, CLUSTER_JOB, args, ['--interval', '0.2', '--retries', '0']);
  const images = await waitFor('three images', async () => {
    const j = await job(cluster, id);
    const { images } = await cluster.call('ListImages', { job: id });
    return j.state === 'running' && images.length >= 3 && j.progress > 0.2 ? images : undefined;
  });
  agents.get('a')!.child.kill('SIGKILL');
  await agents.get('a')!.exit;
  // Once its lease has expired no upload of the dead node can still be committing.
  await waitFor('the job to be queued again', async () => ((await job(cluster, id)).state === 'queued' ? true : undefined));
  // The scheduler's copy of the newest image rots on its disk: its sha256 no longer matches the record.
  const newest = (await cluster.call('ListImages', { job: id })).images.at(-1)!;
  t.true(newest.sequence >= images.at(-1)!.sequence);
  const file = path.join(scheduler.dataDir, 'images', `job-${id}`, `${String(newest.sequence).padStart(8, '0')}.crimg`);
  const rotten = fs.readFileSync(file);
  rotten[blockByte(rotten)]! ^= 0x40;
  fs.writeFileSync(file, rotten);

  agents.set('b', await startAgent(t, scheduler.address, 'b'));
  const done = await finished(cluster, id);
  t.is(done.state, 'succeeded', done.errorJson);
  t.deepEqual(JSON.parse(done.resultJson), await expected);
  t.is(done.retriesUsed, 0, 'neither the lost node nor the damaged image spent a retry');
  const { lines } = await cluster.call('GetLogs', { job: id, after: 0 });
  const text = lines.map((l) => l.text).join('\n');
  t.regex(text, new RegExp(`image ${newest.sequence} could not be used: .*arrived damaged`));
  t.regex(text, /falling back to an older image/);
  const resumed = /resumed from image (\d+)/.exec(text);
  t.truthy(resumed, text);
  t.true(Number(resumed![1]) < newest.sequence, `resumed from image ${resumed![1]}, older than the damaged ${newest.sequence}`);
});

test('A job whose result is over 1 MiB of JSON fails with CR_RESULT_TOO_LARGE instead of never ending; nothing is stored as its result.', async (t) => {
  const dir = tempDir(t, 'big-result');
  const file = path.join(dir, 'big.mjs');
  fs.writeFileSync(file, "export default async () => ({ blob: 'x'.repeat(1100000) });\n");
  const scheduler = await startScheduler(t);
  await startAgent(t, scheduler.address, 'a');
  const cluster = client(t, scheduler.address);
  const id = await submit(t, scheduler.address, file, {}, ['--retries', '2']);
  const done = await finished(cluster, id);
  t.is(done.state, 'failed');
  t.is(done.resultJson, '');
  const error = JSON.parse(done.errorJson) as { code: string; message: string };
  t.is(error.code, 'CR_RESULT_TOO_LARGE');
  t.regex(error.message, /the job's result is \d+ bytes of JSON; at most 1048576/);
  t.is(done.retriesUsed, 0, 'not retried: it would fail the same way');
});

test("An image that arrives whole but whose blocks do not verify is passed over by the job's reader: the attempt ends unstarted naming it, and the scheduler falls back to the image before it.", async (t) => {
  const args = { steps: 300, stepMs: 15, length: 1 << 19 };
  const expected = uninterruptedResult(CLUSTER_JOB, args);
  // A lease only the SIGKILL below ends: a 3 s one ran out under load before it, and the job
  // moved with images the test had not damaged.
  const scheduler = await startScheduler(t, { leaseS: 20 });
  const a = await startAgent(t, scheduler.address, 'a');
  const cluster = client(t, scheduler.address);
  const id = await submit(t, scheduler.address, CLUSTER_JOB, args, ['--interval', '0.2', '--retries', '0']);
  await waitFor('three images', async () => {
    const j = await job(cluster, id);
    const { images } = await cluster.call('ListImages', { job: id });
    return j.state === 'running' && images.length >= 3 && j.progress > 0.2 ? images : undefined;
  });
  a.child.kill('SIGKILL');
  await a.exit;
  await waitFor('the job to be queued again', async () => ((await job(cluster, id)).state === 'queued' ? true : undefined));
  // A block of the newest image is damaged, and its record says the damaged bytes are what was
  // stored (as if its writer had written them): the transfer checks out, the reader must not.
  const newest = (await cluster.call('ListImages', { job: id })).images.at(-1)!;
  const file = path.join(scheduler.dataDir, 'images', `job-${id}`, `${String(newest.sequence).padStart(8, '0')}.crimg`);
  const bytes = fs.readFileSync(file);
  bytes[blockByte(bytes)]! ^= 0x40;
  fs.writeFileSync(file, bytes);
  const db = new Database(path.join(scheduler.dataDir, 'scheduler.db'));
  db.pragma('busy_timeout = 10000');
  db.prepare('UPDATE images SET sha256 = ? WHERE job = ? AND sequence = ?').run(createHash('sha256').update(bytes).digest('hex'), id, newest.sequence);
  db.close();

  await startAgent(t, scheduler.address, 'b');
  const done = await finished(cluster, id);
  t.is(done.state, 'succeeded', done.errorJson);
  t.deepEqual(JSON.parse(done.resultJson), await expected);
  t.is(done.retriesUsed, 0);
  const text = (await cluster.call('GetLogs', { job: id, after: 0 })).lines.map((l) => l.text).join('\n');
  t.regex(text, new RegExp(`image ${newest.sequence} could not be used: the job's reader passed over it`));
  t.regex(text, new RegExp(`image ${newest.sequence} could not be used \\(missing or damaged where stored\\): forgotten, falling back to an older image`));
  const resumed = [...text.matchAll(/resumed from image (\d+)/g)].map((m) => Number(m[1]));
  t.true(resumed.length > 0 && resumed.every((s) => s < newest.sequence), `resumed from ${resumed.join(', ')}, older than the damaged ${newest.sequence}`);
});
