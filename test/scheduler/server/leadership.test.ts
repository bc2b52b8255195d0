// Several real `serve` processes on one database: one leads, the others stand by, answer reads
// and refuse writes naming the leader; SIGKILL of the leader hands the lead to a standby within
// a lease, and a leader paused past its lease (SIGSTOP) writes nothing when it resumes and steps
// down. On SQLite (one data directory shared by the processes of one host) in npm test's first
// run, on PostgreSQL (a real server, each scheduler with a data directory of its own) in its second.
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import test, { type ExecutionContext } from 'ava';
import { schedulerClient, unary, type SchedulerClient } from '../../../scheduler/proto/load.js';
import { openDb } from '../../../scheduler/server/db.js';
import { Leadership, NotLeaderError } from '../../../scheduler/server/leadership.js';
import { tempDir } from '../../runner/helpers.js';
import { adminToken, CLUSTER_JOB, client, finished, startAgent, startScheduler, submit, waitFor, type SchedulerProcess } from '../helpers.js';
import { postgresProblem, TEST_DB, testDbUrl } from './postgres.js';

const LEADER_LEASE_S = 2;

interface Pair {
  leader: SchedulerProcess;
  standby: SchedulerProcess;
}

/** Two schedulers on one database; the first started leads. */
async function pair(t: ExecutionContext): Promise<Pair> {
  const url = await testDbUrl(t);
  const shared = tempDir(t, 'ha');
  const options = (n: number) => ({
    dataDir: url === null ? shared : tempDir(t, `ha-${n}`),
    extra: ['--leader-lease', String(LEADER_LEASE_S), ...(url === null ? [] : ['--db', url])],
  });
  const leader = await startScheduler(t, options(1));
  await leader.cli.waitForStderr(/leading \(epoch \d+/);
  const second = options(2);
  if (second.dataDir !== shared) {
    // Its own data directory: the operator gives it the cluster's admin token (a standby makes none).
    fs.copyFileSync(path.join(leader.dataDir, 'admin.token'), path.join(second.dataDir, 'admin.token'));
  }
  const standby = await startScheduler(t, second);
  await standby.cli.waitForStderr(/standing by: the leader is at /);
  return { leader, standby };
}

function rawClient(t: ExecutionContext, s: SchedulerProcess, token: string): SchedulerClient {
  const c = schedulerClient(s.address, { token });
  t.teardown(() => c.close());
  return c;
}

/** The status and `cr-leader` metadata a call ended with. */
async function refusal(call: Promise<unknown>): Promise<{ code: number; details: string; leader: string }> {
  try {
    await call;
    return { code: grpc.status.OK, details: '', leader: '' };
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, details: e.details, leader: String(e.metadata?.get('cr-leader')[0] ?? '') };
  }
}

const SUBMIT = { name: 'x', code: Buffer.from('export default async () => 1'), argsJson: '{}', retries: 0, priority: 0, intervalMs: 1000, fullEvery: 8 };

const problem = TEST_DB === 'postgres' ? postgresProblem() : null;
const title = (what: string): string => `${what} (${TEST_DB === 'postgres' ? 'PostgreSQL' : 'SQLite, one shared data directory'})${problem === null ? '' : ` (skipped: ${problem})`}.`;
const run = problem === null ? test : test.skip;

run(title('A standby answers reads and refuses writes UNAVAILABLE naming the leader; SIGKILL of the leader hands the lead to it, and no job is lost or run twice'), async (t) => {
  const { leader, standby } = await pair(t);
  // The admin token is the leader's (in the shared data directory, or the database both use).
  const token = adminToken(leader.address);
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(await submit(t, leader.address, CLUSTER_JOB, { steps: 20, stepMs: 1 }));
  const atStandby = rawClient(t, standby, token);
  const listed = await unary(atStandby, 'ListJobs', { states: [], all: true });
  t.deepEqual(
    listed.jobs.map((j) => j.id),
    ids,
    'the standby reads the same jobs',
  );
  const refused = await refusal(unary(atStandby, 'Submit', SUBMIT));
  t.is(refused.code, grpc.status.UNAVAILABLE);
  t.is(refused.details, `this scheduler is a standby; the leader is at ${leader.address}`);
  t.is(refused.leader, leader.address);
  t.is((await unary(rawClient(t, leader, token), 'ListJobs', { states: [], all: true })).jobs.length, 3, 'the refused submit made no job');

  leader.cli.child.kill('SIGKILL');
  await leader.cli.exit;
  await standby.cli.waitForStderr(/leading \(epoch \d+/, 120_000);
  await startAgent(t, standby.address, 'n1', 2);
  const watcher = client(t, standby.address, token);
  for (const id of ids) {
    const done = await finished(watcher, id);
    t.is(done.state, 'succeeded');
    t.is(done.attempt, 1, `job ${id} ran once`);
  }
  t.is((await unary(atStandby, 'ListJobs', { states: [], all: true })).jobs.length, 3);
});

run(title('A leader paused past its lease (SIGSTOP) writes nothing when it resumes: it steps down, says so, and refuses writes naming the new leader'), async (t) => {
  const { leader, standby } = await pair(t);
  const token = adminToken(leader.address);
  leader.cli.child.kill('SIGSTOP');
  t.teardown(() => leader.cli.child.kill('SIGCONT'));
  await standby.cli.waitForStderr(/leading \(epoch \d+/, 120_000);
  const before = (await unary(rawClient(t, standby, token), 'ListJobs', { states: [], all: true })).jobs.length;
  leader.cli.child.kill('SIGCONT');
  // Whether its renewal or this write notices first, the write is refused and changes nothing.
  const refused = await waitFor('the old leader to refuse a write', async () => {
    const r = await refusal(unary(rawClient(t, leader, token), 'Submit', SUBMIT));
    return r.code === grpc.status.UNAVAILABLE ? r : undefined;
  });
  t.is(refused.details, `this scheduler is a standby; the leader is at ${standby.address}`);
  t.is(refused.leader, standby.address);
  await leader.cli.waitForStderr(/stepped down from epoch \d+: .*; standing by/);
  t.is((await unary(rawClient(t, standby, token), 'ListJobs', { states: [], all: true })).jobs.length, before, 'no job was added by the old leader');
  const accepted = await unary(rawClient(t, standby, token), 'Submit', SUBMIT);
  t.true(accepted.id! > 0, 'the new leader takes writes');
});

// PostgreSQL only: there the fence's lock on the lead's row is held by a server session, which
// PostgreSQL can end; a SQLite file's write lock belongs to the paused process itself.
if (TEST_DB === 'postgres') {
  run(title('A leader paused inside a write (its transaction open, the lead\'s row locked) loses the lead once its lease runs out; resumed, that write commits nothing'), async (t) => {
    const url = await testDbUrl(t);
    const leaseMs = 1000;
    const open = async (name: string) => {
      const db = await openDb({ dataDir: tempDir(t, name), url, idleInTransactionMs: leaseMs });
      t.teardown(() => db.close());
      return db;
    };
    const [a, b] = [await open('paused-a'), await open('paused-b')];
    // No timers: each takes or renews the lease only when the test runs a round.
    const leader = new Leadership(a, { address: 'a', leaseMs });
    const standby = new Leadership(b, { address: 'b', leaseMs });
    t.true(await leader.round());
    t.false(await standby.round());
    // A write that stops after its fence, as a scheduler SIGSTOPped there does.
    let resume!: () => void;
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const paused = new Promise<void>((resolve) => (resume = resolve));
    const write = a.write(async () => {
      entered();
      await paused;
      await a.q.insertInto('meta').values({ key: 'written by the paused leader', value: 'x' }).execute();
    });
    await inside;
    // Without the limit on idle transactions, this round would wait on the row lock for as long as the write is paused.
    await waitFor('the standby to lead', async () => ((await standby.round()) ? true : undefined));
    resume();
    await t.throwsAsync(write);
    t.is(await b.q.selectFrom('meta').select('value').where('key', '=', 'written by the paused leader').executeTakeFirst(), undefined, 'the paused write committed nothing');
    // Its next write gets a fresh connection, fails the fence, and the old leader stands by.
    await t.throwsAsync(a.write(async () => undefined), { instanceOf: NotLeaderError, message: 'this scheduler is a standby; the leader is at b' });
    t.false(leader.leading);
  });
}
