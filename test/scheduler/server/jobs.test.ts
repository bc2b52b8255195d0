// The job lifecycle and its fencing, on a real SQLite file.
import test, { type ExecutionContext } from 'ava';
import { sql } from 'kysely';
import { openDb } from '../../../scheduler/server/db.js';
import { Jobs, RETRY_BASE_MS, UNSTARTED_DELAY_MS, type NewJob } from '../../../scheduler/server/jobs.js';
import { tempDir } from '../../runner/helpers.js';
import { TEST_DB, testDbUrl } from './postgres.js';

const JOB: NewJob = { name: 'j', codeSha256: 'ab'.repeat(32), code: Buffer.from('export default () => 1'), argsJson: '{}', retries: 2, priority: 0, intervalMs: 1000, fullEvery: 8 };

async function jobs(t: ExecutionContext): Promise<Jobs> {
  const db = await openDb({ dataDir: tempDir(t, 'jobs'), url: await testDbUrl(t) });
  t.teardown(() => db.close());
  return new Jobs(db);
}

test('Queued jobs are placeable by priority, then submission order, once their back-off has passed.', async (t) => {
  const j = await jobs(t);
  const low = await j.submit({ ...JOB, priority: 0 }, 1000);
  const high = await j.submit({ ...JOB, priority: 5 }, 1001);
  const low2 = await j.submit({ ...JOB, priority: 0 }, 1002);
  t.deepEqual((await j.placeable(2000, 10)).map((r) => r.id), [high.id, low.id, low2.id]);
  t.deepEqual((await j.placeable(2000, 2)).map((r) => r.id), [high.id, low.id]);
});

test('Starting a job numbers its attempt; only the current attempt may report or finish.', async (t) => {
  const j = await jobs(t);
  const { id } = await j.submit(JOB);
  const [started] = await j.start([{ job: id, node: 'a' }]);
  t.is(started!.attempt, 1);
  t.is(started!.state, 'running');
  t.true(await j.isCurrent(id, 1));
  t.true(await j.report(id, 1, 0.5, 'half', ['a line']));
  // The node is lost: back to the queue, no retry spent; attempt 1 is now stale.
  t.is((await j.requeueLost([{ id, attempt: 1 }], 'lease expired')).length, 1);
  t.like(await j.get(id), { state: 'queued', retries_used: 0, moves: 1, node: null });
  t.false(await j.isCurrent(id, 1));
  t.false(await j.report(id, 1, 0.9, null, ['late']));
  t.is(await j.finish(id, 1, { outcome: 'succeeded', resultJson: '1' }), 'stale');
  await j.start([{ job: id, node: 'b' }]);
  t.is(await j.finish(id, 1, { outcome: 'succeeded', resultJson: '1' }), 'stale', 'attempt 1 stays stale after attempt 2 starts');
  t.is(await j.finish(id, 2, { outcome: 'succeeded', resultJson: '42' }), 'succeeded');
  t.like(await j.get(id), { state: 'succeeded', result_json: '42', attempt: 2 });
  t.false((await j.events(id, 0)).some((e) => e.text === 'late'));
  t.deepEqual((await j.attempts(id)).map((a) => a.outcome), ['lost', 'succeeded']);
});

test("A job's own failure is retried with back-off up to its limit, then fails; a fatal error is not retried.", async (t) => {
  const j = await jobs(t);
  const { id } = await j.submit(JOB);
  const error = JSON.stringify({ message: 'boom' });
  await j.start([{ job: id, node: 'a' }], 0);
  t.is(await j.finish(id, 1, { outcome: 'failed', errorJson: error, retryable: true }, 10), 'retry');
  t.like(await j.get(id), { state: 'queued', retries_used: 1, not_before: 10 + RETRY_BASE_MS });
  t.deepEqual(await j.placeable(10 + RETRY_BASE_MS - 1, 10), []);
  await j.start([{ job: id, node: 'a' }], 10 + RETRY_BASE_MS);
  t.is(await j.finish(id, 2, { outcome: 'failed', errorJson: error, retryable: true }, 2000), 'retry');
  t.is((await j.get(id))!.not_before, 2000 + 2 * RETRY_BASE_MS, 'the back-off doubles');
  await j.start([{ job: id, node: 'a' }], 5000);
  t.is(await j.finish(id, 3, { outcome: 'failed', errorJson: error, retryable: true }, 6000), 'failed');
  t.like(await j.get(id), { state: 'failed', error_json: error });

  const fatal = (await j.submit(JOB)).id;
  await j.start([{ job: fatal, node: 'a' }]);
  t.is(await j.finish(fatal, 1, { outcome: 'failed', errorJson: error, retryable: false }), 'failed');
  t.is((await j.get(fatal))!.retries_used, 0);
});

test('The timeline counts retries in words: "1 retry", "2 retries".', async (t) => {
  const j = await jobs(t);
  const one = (await j.submit({ ...JOB, retries: 1 })).id;
  await j.start([{ job: one, node: 'a' }], 0);
  await j.finish(one, 1, { outcome: 'failed', errorJson: JSON.stringify({ message: 'boom' }), retryable: true }, 10);
  await j.start([{ job: one, node: 'a' }], 10 + RETRY_BASE_MS);
  t.is(await j.finish(one, 2, { outcome: 'failed', errorJson: JSON.stringify({ message: 'boom' }), retryable: true }, 5000), 'failed');
  const texts = (await j.events(one, 0)).map((e) => e.text);
  t.true(texts.includes('submitted (priority 0, 1 retry)'), texts.join('\n'));
  t.true(texts.includes('failed: boom (after 1 retry)'), texts.join('\n'));
  const two = (await j.submit(JOB)).id;
  t.true((await j.events(two, 0)).some((e) => e.text === 'submitted (priority 0, 2 retries)'));
});

test('A stopped attempt (drain) requeues the job without spending a retry; cancel ends it for good.', async (t) => {
  const j = await jobs(t);
  const { id } = await j.submit(JOB);
  await j.start([{ job: id, node: 'a' }]);
  t.is(await j.finish(id, 1, { outcome: 'stopped' }), 'moved');
  t.like(await j.get(id), { state: 'queued', moves: 1, retries_used: 0 });
  await j.start([{ job: id, node: 'b' }]);
  const { before, after } = (await j.cancel(id))!;
  t.is(before.state, 'running');
  t.is(after.state, 'cancelled');
  t.false(await j.isCurrent(id, 2));
  t.is(await j.finish(id, 2, { outcome: 'cancelled' }), 'stale');
  t.is((await j.cancel(id))!.after.state, 'cancelled', 'cancelling again changes nothing');
});

// SQLite's file and its WAL mode; on PostgreSQL the restart is scheduler.test.ts's.
(TEST_DB === 'sqlite' ? test : test.skip)(`The database keeps every job across a reopen (the scheduler restarted).${TEST_DB === 'sqlite' ? '' : ' [skipped: SQLite\'s file and WAL only; on PostgreSQL, scheduler.test.ts restarts a scheduler]'}`, async (t) => {
  const dir = tempDir(t, 'jobs-reopen');
  let db = await openDb(dir);
  const j = new Jobs(db);
  const a = (await j.submit(JOB)).id;
  const b = (await j.submit(JOB)).id;
  await j.start([{ job: a, node: 'n' }]);
  await db.close();
  db = await openDb(dir);
  t.teardown(() => db.close());
  const again = new Jobs(db);
  t.deepEqual((await again.list()).map((r) => [r.id, r.state, r.attempt]), [
    [a, 'running', 1],
    [b, 'queued', 0],
  ]);
  t.is((await sql<{ journal_mode: string }>`PRAGMA journal_mode`.execute(db.q)).rows[0]?.journal_mode, 'wal');
});

test('An attempt that could not fetch its code or images goes back to the queue without spending a retry, after a short pause.', async (t) => {
  const j = await jobs(t);
  const { id } = await j.submit(JOB);
  await j.start([{ job: id, node: 'a' }], 1000);
  t.is(await j.finish(id, 1, { outcome: 'unstarted', errorJson: JSON.stringify({ message: 'image 3 of job 1 arrived damaged' }) }, 1000), 'moved');
  t.like(await j.get(id), { state: 'queued', retries_used: 0, moves: 1, node: null });
  t.deepEqual(await j.placeable(1000 + UNSTARTED_DELAY_MS - 1, 10), [], 'not placed again at once');
  t.deepEqual((await j.placeable(1000 + UNSTARTED_DELAY_MS, 10)).map((r) => r.id), [id]);
  t.true((await j.events(id, 0)).some((e) => /could not start on node a: image 3 of job 1 arrived damaged; back in the queue \(no retry spent\)/.test(e.text)));
});

test('Starting many jobs at once spreads them over their nodes in placement order, each with an attempt and its event; a job no longer queued is left out.', async (t) => {
  const j = await jobs(t);
  const ids: number[] = [];
  // More than one statement's worth of rows (BATCH_ROWS) on one node.
  for (let i = 0; i < 1200; i++) ids.push((await j.submit(JOB)).id);
  await j.cancel(ids[3]!);
  const placements = ids.map((job, i) => ({ job, node: i % 3 === 0 ? 'b' : 'a' }));
  const started = await j.start(placements, 500);
  t.deepEqual(started.map((r) => r.id), ids.filter((id) => id !== ids[3]));
  for (const r of started) t.like(r, { state: 'running', attempt: 1, node: placements.find((p) => p.job === r.id)!.node, started_at: 500 });
  t.deepEqual((await j.attempts(ids[1]!)).map((a) => [a.node, a.outcome]), [['a', null]]);
  t.true((await j.events(ids[0]!, 0)).some((e) => e.text === 'attempt 1 placed on node b'));
  t.like(await j.get(ids[3]!), { state: 'cancelled', attempt: 0 });
});

test("A list holds the newest jobs up to its limit, oldest first, with each job's owner and image count, and says when older ones were left out.", async (t) => {
  const db = await openDb({ dataDir: tempDir(t, 'jobs'), url: await testDbUrl(t) });
  t.teardown(() => db.close());
  const j = new Jobs(db);
  const ids: number[] = [];
  for (let i = 0; i < 5; i++) ids.push((await j.submit(JOB)).id);
  await db.q.insertInto('job_owners').values(ids.map((job, i) => ({ job, token: i % 2 === 0 ? 'even' : 'odd', label: `user ${i % 2}` }))).execute();
  await db.q.insertInto('images').values({ job: ids[4]!, sequence: 1, attempt: 1, node: 'a', bytes: 10, sha256: 'ab'.repeat(32), bases_json: '[]', created_at: 0 }).execute();
  await j.start([{ job: ids[1]!, node: 'a' }]);
  const all = await j.listed([], null, 0);
  t.deepEqual(all.jobs.map((l) => l.row.id), ids);
  t.false(all.more);
  t.deepEqual(all.jobs.map((l) => l.images), [0, 0, 0, 0, 1]);
  t.deepEqual(all.jobs[1]!.owner, { token: 'odd', label: 'user 1' });
  const newest = await j.listed([], null, 2);
  t.deepEqual(newest.jobs.map((l) => l.row.id), ids.slice(3));
  t.true(newest.more);
  t.deepEqual((await j.listed([], 'even', 2)).jobs.map((l) => l.row.id), [ids[2], ids[4]]);
  t.deepEqual((await j.listed(['running'], 'odd', 0)).jobs.map((l) => l.row.id), [ids[1]]);
  t.deepEqual((await j.listed(['running'], 'even', 0)).jobs, []);
});
