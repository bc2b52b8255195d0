// Retention of finished jobs' images: a finished job keeps its newest image until
// keepFinishedMs has passed, then none; a job that has not ended keeps everything; removal
// on request is refused while the job can still resume from its images.
import test from 'ava';
import { SchedulerError } from '../../../scheduler/server/scheduler.js';
import { Sink, core, submit } from './helpers.js';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { imageBytes } from './helpers.js';
import type { SchedulerCore } from '../../../scheduler/server/scheduler.js';

async function* stream(bytes: Buffer) {
  yield { chunk: bytes };
  yield { sha256: createHash('sha256').update(bytes).digest('hex') };
}

async function store(t: Parameters<typeof imageBytes>[0], c: SchedulerCore, job: number, sequence: number): Promise<void> {
  const bytes = await imageBytes(t, c.images.jobKey(job), `job-${job}`, sequence);
  const r = await c.upload({ job, attempt: 1, sequence, bytes: bytes.length, node: 'n1' }, stream(bytes));
  t.true(r.accepted, JSON.stringify(r));
}

test('A finished job keeps its newest image until --keep-finished passes, then none; a running one keeps all.', async (t) => {
  const c = await core(t);
  const done = await submit(c);
  const running = await submit(c);
  await c.connect({ node: 'n1', slots: 2, running: [], version: '' }, new Sink());
  for (const seq of [1, 2]) {
    await store(t, c, done, seq);
    await store(t, c, running, seq);
  }
  const now = Date.now();
  t.true(await c.finish({ job: done, attempt: 1, outcome: 'SUCCEEDED', resultJson: '1', errorJson: '', retryable: false }, now));
  const hour = 3600_000;
  const r = c.retention;
  t.is(r.keepFinishedMs, 7 * 24 * hour);
  let swept = await r.sweep(now + hour);
  t.deepEqual((await c.images.list(done)).map((i) => i.sequence), [2], 'the older image of the finished job goes at once');
  t.is(swept.images, 1);
  t.false(fs.existsSync(c.images.file(done, 1)));
  t.true(fs.existsSync(c.images.file(done, 2)));
  swept = await r.sweep(now + 7 * 24 * hour + 1);
  t.deepEqual(await c.images.list(done), []);
  t.false(fs.existsSync(c.images.store.jobDir(`job-${done}`)));
  t.deepEqual((await c.images.list(running)).map((i) => i.sequence), [1, 2], 'a running job keeps its images');
});

test('images --delete removes a finished job\'s images, and is refused for a running or queued job with nothing removed.', async (t) => {
  const c = await core(t);
  const id = await submit(c);
  const queued = await submit(c);
  await c.connect({ node: 'n1', slots: 1, running: [], version: '' }, new Sink());
  await store(t, c, id, 1);
  for (const job of [id, queued]) {
    const e = await t.throwsAsync(() => c.deleteImages(job), { instanceOf: SchedulerError });
    t.is(e.status, 'FAILED_PRECONDITION');
    t.regex(e.message, /cancel it first/);
  }
  t.is((await c.images.list(id)).length, 1);
  t.true(fs.existsSync(c.images.file(id, 1)));
  await c.cancel(id);
  t.deepEqual((await c.deleteImages(id)).map((i) => i.sequence), [1]);
  t.deepEqual(await c.images.list(id), []);
  t.false(fs.existsSync(c.images.file(id, 1)));
  t.is((await t.throwsAsync(() => c.deleteImages(999), { instanceOf: SchedulerError }))!.status, 'NOT_FOUND');
});
