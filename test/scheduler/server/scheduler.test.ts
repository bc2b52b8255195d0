// The scheduler's core without the wire: registration and reconciliation, lease expiry, and the
// fencing of image uploads, on a real database and image store. A node's command stream is a
// list the test reads.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import test from 'ava';
import { sql } from 'kysely';
import { SchedulerCore, SchedulerError } from '../../../scheduler/server/scheduler.js';
import { tempDir } from '../../runner/helpers.js';
import { newKey } from '../../image/helpers.js';
import { core, imageBytes, LEASE_MS, Sink, submit } from './helpers.js';
import { TEST_DB, testDbUrl } from './postgres.js';

async function* parts(bytes: Buffer, sha256 = createHash('sha256').update(bytes).digest('hex'), during?: () => Promise<unknown>) {
  yield { chunk: bytes.subarray(0, bytes.length >> 1) };
  // Done before the rest of the bytes arrive, on a database a round trip away too.
  await during?.();
  yield { chunk: bytes.subarray(bytes.length >> 1) };
  yield { sha256 };
}

test('A node that connects gets the image key first, then the queued jobs that fit its slots.', async (t) => {
  const c = await core(t);
  const a = await submit(c);
  const b = await submit(c);
  const sink = new Sink();
  await c.connect({ node: 'n1', slots: 1, running: [], version: 'x' }, sink);
  t.truthy(sink.commands[0]!.registered);
  t.deepEqual(sink.commands[0]!.registered!.imageKey, c.images.key);
  t.deepEqual(sink.of('assign').map((x) => [x.assign!.job, x.assign!.attempt]), [[a, 1]]);
  t.like(await c.jobs.get(b), { state: 'queued' });
  t.true(await c.finish({ job: a, attempt: 1, outcome: 'SUCCEEDED', resultJson: '1', errorJson: '', retryable: false }));
  t.deepEqual(sink.of('assign').map((x) => x.assign!.job), [a, b], 'the freed slot takes the next job');
});

test('Bad node names and slot counts are refused with what is allowed.', async (t) => {
  const c = await core(t);
  const e = await t.throwsAsync(() => c.connect({ node: '../x', slots: 1, running: [], version: '' }, new Sink()), { instanceOf: SchedulerError });
  t.is(e.status, 'INVALID_ARGUMENT');
  await t.throwsAsync(() => c.connect({ node: 'ok', slots: 0, running: [], version: '' }, new Sink()), { message: /slots must be from 1/ });
  t.is((await t.throwsAsync(() => c.job(99), { instanceOf: SchedulerError }))!.status, 'NOT_FOUND');
});

test('A node that reconnects keeps the attempts it reports; those it lost are requeued, those it should not run are told STALE.', async (t) => {
  const c = await core(t);
  const a = await submit(c);
  const b = await submit(c);
  await c.connect({ node: 'n1', slots: 2, running: [], version: '' }, new Sink());
  t.like(await c.jobs.get(a), { state: 'running', attempt: 1 });
  t.like(await c.jobs.get(b), { state: 'running', attempt: 1 });
  const again = new Sink();
  // It still runs a, lost b, and runs an old attempt 7 of a job it was never given.
  await c.connect({ node: 'n1', slots: 2, running: [{ job: a, attempt: 1 }, { job: 77, attempt: 7 }], version: '' }, again);
  t.like(await c.jobs.get(a), { state: 'running', attempt: 1 });
  t.deepEqual(again.of('control').map((x) => x.control), [{ job: 77, attempt: 7, action: 'STALE' }]);
  // b went back to the queue and was placed again on the free slot, as attempt 2.
  t.like(await c.jobs.get(b), { state: 'running', attempt: 2, moves: 1, retries_used: 0 });
  t.deepEqual(again.of('assign').map((x) => [x.assign!.job, x.assign!.attempt]), [[b, 2]]);
});

test('A node whose lease expires is dead: its stream is ended and its jobs move to a live node.', async (t) => {
  const c = await core(t);
  const id = await submit(c);
  const n1 = new Sink();
  await c.connect({ node: 'n1', slots: 1, running: [], version: '' }, n1);
  const session2 = await c.connect({ node: 'n2', slots: 1, running: [], version: '' }, new Sink());
  t.like(await c.jobs.get(id), { node: 'n1', attempt: 1 });
  const later = Date.now() + LEASE_MS + 1;
  t.true(await c.heartbeat('n2', session2, later - 10));
  await c.checkLeases(later);
  t.true(n1.ended);
  t.like(await c.jobs.get(id), { node: 'n2', attempt: 2, moves: 1 });
  t.is((await c.listNodes()).find((n) => n.name === 'n1')!.state, 'dead');
  t.false(await c.heartbeat('n1', 'old-session'), 'its old session is over: the agent must reconnect');
});

test('A heartbeat that says the agent is stopping drains its node until it registers again; an admin drain outlasts that.', async (t) => {
  const c = await core(t);
  const id = await submit(c);
  const n1 = new Sink();
  const session = await c.connect({ node: 'n1', slots: 2, running: [], version: '' }, n1);
  t.like(await c.jobs.get(id), { node: 'n1', state: 'running' });
  t.true(await c.heartbeat('n1', session, Date.now(), true));
  t.deepEqual(n1.of('control').map((x) => x.control), [{ job: id, attempt: 1, action: 'MIGRATE' }]);
  t.like(await c.jobs.get(id), { pending: 'migrate' });
  t.is((await c.listNodes())[0]!.state, 'draining');
  // Said again with every heartbeat: no second MIGRATE.
  t.true(await c.heartbeat('n1', session, Date.now(), true));
  t.is(n1.of('control').length, 1);
  // Stopped after its checkpoint: queued, and not placed back on the stopping node.
  t.true(await c.finish({ job: id, attempt: 1, outcome: 'STOPPED', resultJson: '', errorJson: '', retryable: false }));
  t.like(await c.jobs.get(id), { state: 'queued', moves: 1 });
  t.is(n1.of('assign').length, 1);
  // The agent started again: it takes work at once.
  const again = new Sink();
  await c.connect({ node: 'n1', slots: 2, running: [], version: '' }, again);
  t.is((await c.listNodes())[0]!.state, 'alive');
  t.deepEqual(again.of('assign').map((x) => [x.assign!.job, x.assign!.attempt]), [[id, 2]]);
  // An admin's drain is not ended by the agent's coming back.
  await c.drain('n1');
  const third = new Sink();
  const s3 = await c.connect({ node: 'n1', slots: 2, running: [{ job: id, attempt: 2 }], version: '' }, third);
  t.true(await c.heartbeat('n1', s3, Date.now(), true));
  t.is((await c.listNodes())[0]!.state, 'draining');
  await c.connect({ node: 'n1', slots: 2, running: [{ job: id, attempt: 2 }], version: '' }, new Sink());
  t.is((await c.listNodes())[0]!.state, 'draining');
});

test('An image from the current attempt is stored; one from a stale attempt, or superseded mid-upload, leaves nothing.', async (t) => {
  const c = await core(t);
  const id = await submit(c);
  await c.connect({ node: 'n1', slots: 1, running: [], version: '' }, new Sink());
  const first = await imageBytes(t, c.images.jobKey(id), `job-${id}`, 1);
  const ok = await c.upload({ job: id, attempt: 1, sequence: 1, bytes: first.length, node: 'n1' }, parts(first));
  t.deepEqual(ok, { accepted: true });
  t.deepEqual(fs.readFileSync(c.images.file(id, 1)), first);
  t.deepEqual((await c.images.restorePlan(id)).map((r) => r.sequence), [1]);
  const bytes = await imageBytes(t, c.images.jobKey(id), `job-${id}`, 2);

  const damaged = await c.upload({ job: id, attempt: 1, sequence: 2, bytes: bytes.length, node: 'n1' }, parts(bytes, '00'.repeat(32)));
  t.like(damaged, { accepted: false, stale: false });
  t.regex((damaged as { reason: string }).reason, /sha256 mismatch/);
  t.false(fs.existsSync(c.images.file(id, 2)));

  // Superseded while the bytes stream in: the node is presumed dead half-way.
  const during = (): Promise<unknown> => c.jobs.requeueLost([{ id, attempt: 1 }], 'test');
  const late = await c.upload({ job: id, attempt: 1, sequence: 2, bytes: bytes.length, node: 'n1' }, parts(bytes, undefined, during));
  t.like(late, { accepted: false, stale: true });
  t.false(fs.existsSync(c.images.file(id, 2)));
  const third = await imageBytes(t, c.images.jobKey(id), `job-${id}`, 3);
  const stale = await c.upload({ job: id, attempt: 1, sequence: 3, bytes: third.length, node: 'n1' }, parts(third));
  t.like(stale, { accepted: false, stale: true });
  t.deepEqual((await c.listImages(id)).map((i) => [i.sequence, i.attempt]), [[1, 1]]);
});

test("An upload that is not an image of this job under the job's own key, whole, is refused and leaves nothing.", async (t) => {
  const c = await core(t);
  const id = await submit(c);
  await c.connect({ node: 'n1', slots: 1, running: [], version: '' }, new Sink());
  const cases: [string, Buffer, RegExp][] = [
    ['random bytes', randomBytes(300_000), /does not verify: .*(not a cr image|magic)/],
    ['another key', await imageBytes(t, newKey(), `job-${id}`, 1), /does not verify: .*tag/],
    // A job holds only its own key: what it tags is no image of another job.
    ["another job's image under that job's key", await imageBytes(t, c.images.jobKey(id + 1), `job-${id + 1}`, 1), /does not verify: .*tag/],
    ["another job's name under this job's key", await imageBytes(t, c.images.jobKey(id), `job-${id + 1}`, 1), /does not verify: .*job/],
    ['the cluster key itself (images are tagged with the job key)', await imageBytes(t, c.images.key, `job-${id}`, 1), /does not verify: .*tag/],
    ['another number', await imageBytes(t, c.images.jobKey(id), `job-${id}`, 7), /does not verify: .*(sequence|number)/],
  ];
  const good = await imageBytes(t, c.images.jobKey(id), `job-${id}`, 1);
  const flipped = Buffer.from(good);
  flipped[100]! ^= 0x10; // inside the first block: the sha256 of what was sent still matches
  cases.push(['a flipped bit in a block', flipped, /does not verify: .*(hash|block)/]);
  for (const [what, bytes, reason] of cases) {
    const refused = await c.upload({ job: id, attempt: 1, sequence: 1, bytes: bytes.length, node: 'n1' }, parts(bytes));
    t.like(refused, { accepted: false, stale: false }, what);
    t.regex((refused as { reason: string }).reason, reason, what);
    t.false(fs.existsSync(c.images.file(id, 1)), `${what}: a file was left`);
  }
  t.deepEqual(await c.listImages(id), []);
  t.deepEqual(await c.upload({ job: id, attempt: 1, sequence: 1, bytes: good.length, node: 'n1' }, parts(good)), { accepted: true });
});

test('A restarted scheduler keeps its nodes alive for one lease and its jobs running.', async (t) => {
  const dir = tempDir(t, 'core-restart');
  const dbUrl = await testDbUrl(t);
  const first = await SchedulerCore.open({ dataDir: dir, dbUrl, leaseTimeoutMs: LEASE_MS });
  const id = await submit(first);
  await first.connect({ node: 'n1', slots: 1, running: [], version: '' }, new Sink());
  await first.close();
  const second = await SchedulerCore.open({ dataDir: dir, dbUrl, leaseTimeoutMs: LEASE_MS });
  t.teardown(() => second.close().catch(() => undefined));
  t.like(await second.jobs.get(id), { state: 'running', attempt: 1, node: 'n1' });
  await second.checkLeases(Date.now() + 10);
  t.like(await second.jobs.get(id), { state: 'running', attempt: 1 }, 'not presumed dead at once');
  const sink = new Sink();
  await second.connect({ node: 'n1', slots: 1, running: [{ job: id, attempt: 1 }], version: '' }, sink);
  t.deepEqual(sink.of('control'), []);
  t.like(await second.jobs.get(id), { state: 'running', attempt: 1 });
});

test('A job name with control characters or over 200 characters is refused at Submit, and no job is made.', async (t) => {
  const c = await core(t);
  const request = { code: Buffer.from('export default async () => 1'), argsJson: '{}', retries: 1, priority: 0, intervalMs: 1000, fullEvery: 8 };
  for (const name of ['two\nlines', 'esc\u001b[2J', 'x'.repeat(201)]) {
    const e = await t.throwsAsync(() => c.submit({ ...request, name }), { instanceOf: SchedulerError });
    t.is(e.status, 'INVALID_ARGUMENT');
    t.regex(e.message, /control character|at most 200 characters/);
  }
  t.deepEqual(await c.jobs.list(), []);
  t.is((await c.submit({ ...request, name: 'ok name' })).name, 'ok name');
});

test('Finish refuses a result that is not JSON or over 1 MiB, and the job stays running with no result.', async (t) => {
  const c = await core(t);
  const id = await submit(c);
  await c.connect({ node: 'n1', slots: 1, running: [], version: '' }, new Sink());
  const base = { job: id, attempt: 1, outcome: 'SUCCEEDED' as const, errorJson: '', retryable: false };
  for (const [resultJson, why] of [['{nope', /not valid JSON/], [JSON.stringify('x'.repeat(1 << 20)), /at most 1048576/]] as const) {
    const e = await t.throwsAsync(() => c.finish({ ...base, resultJson }), { instanceOf: SchedulerError });
    t.is(e.status, 'INVALID_ARGUMENT');
    t.regex(e.message, why);
    t.like(await c.jobs.get(id), { state: 'running', result_json: null, attempt: 1 });
    t.regex((await c.jobs.events(id, 0)).at(-1)?.text ?? '', /^refused Finish: /, 'the refusal is recorded as an event of the job');
  }
  t.true(await c.finish({ ...base, resultJson: '{"ok":true}' }));
  t.like(await c.jobs.get(id), { state: 'succeeded', result_json: '{"ok":true}' });
});

test('An attempt error that is not JSON is kept as text: the job still ends.', async (t) => {
  const c = await core(t);
  const id = await submit(c);
  await c.connect({ node: 'n1', slots: 1, running: [], version: '' }, new Sink());
  t.true(await c.finish({ job: id, attempt: 1, outcome: 'FAILED', resultJson: '', errorJson: 'boom{', retryable: false }));
  const job = (await c.jobs.get(id))!;
  t.is(job.state, 'failed');
  t.regex((JSON.parse(job.error_json!) as { message: string }).message, /was not JSON.*boom\{/);
});

// SQLite only: PostgreSQL's column types refuse such values in the first place.
(TEST_DB === 'sqlite' ? test : test.skip)(`Garbage written straight into the rows does not break jobInfo, listImages or placement.${TEST_DB === 'sqlite' ? '' : ' [skipped: SQLite only; PostgreSQL\'s column types refuse such values]'}`, async (t) => {
  const c = await core(t);
  const id = await submit(c);
  await sql`INSERT INTO images (job, sequence, attempt, node, bytes, sha256, bases_json, created_at) VALUES (${id}, 1, 1, 'n1', 10, 'x', 'not json', 0)`.execute(c.db.q);
  await sql`UPDATE jobs SET name = ${Buffer.from([0xff, 0x00, 0x1b])}, progress = 'lots', result_json = 'nope', error_json = x'00ff', submitted_at = 'yesterday', retries = -5, message = x'1b5b324a', moves = 1e300 WHERE id = ${id}`.execute(c.db.q);
  const info = await c.jobInfo((await c.jobs.get(id))!);
  t.is(typeof info.name, 'string');
  t.is(info.progress, 0);
  t.is(info.submittedAt, 0);
  t.is(info.retries, 0);
  t.is(info.moves, 0);
  t.is(info.resultJson, 'nope');
  t.deepEqual((await c.listImages(id))[0]!.bases, []);
  t.deepEqual(await c.images.restorePlan(id), [], 'an image whose bases cannot be read is never restored from');
  const sink = new Sink();
  await t.notThrowsAsync(() => c.connect({ node: 'n1', slots: 1, running: [], version: '' }, sink));
  t.deepEqual(sink.of('assign')[0]!.assign!.images, []);
});
