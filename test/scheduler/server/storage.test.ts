// The scheduler on a full disk of its own (a small tmpfs): a lease that expires while nothing
// can be written neither throws out of the timer nor loses the job; heartbeats keep leases in
// memory; submissions and uploads are refused with RESOURCE_EXHAUSTED and change nothing; the
// state is reported; and when space returns, the next tick resumes on its own and records the
// expiry it could not record before.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { SchedulerCore, SchedulerError } from '../../../scheduler/server/scheduler.js';
import { isStorageError, STORAGE_FULL } from '../../../scheduler/server/storage.js';
import { runCli, show, tempDir, uninterruptedResult } from '../../runner/helpers.js';
import { CLUSTER_JOB, client, finished, job, startAgent, startScheduler, submit, waitFor } from '../helpers.js';
import { imageBytes, Sink } from './helpers.js';

/** Mounts a tmpfs of `mib` MiB at a new directory (root only); null with the reason when it cannot. */
function mountTmpfs(dir: string, mib: number): string | null {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `cannot mount a tmpfs (${((err as { stderr?: Buffer }).stderr?.toString() || (err as Error).message).trim()}): run as root`;
  }
}

/** Fills the file system of `dir` to its last page; returns the file that holds the space. */
function fill(dir: string): string {
  const file = path.join(dir, 'fill');
  const fd = fs.openSync(file, 'w');
  try {
    for (const size of [1 << 20, 4096]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          fs.writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

async function* stream(bytes: Buffer) {
  yield { chunk: bytes };
  yield { sha256: createHash('sha256').update(bytes).digest('hex') };
}

const NEW_JOB = { name: 'late', code: Buffer.from('export default async () => 1'), argsJson: '{}', retries: 0, priority: 0, intervalMs: 1000, fullEvery: 8 };

/** Whether a tmpfs can be mounted here (decided once, before the tests are declared). */
function tmpfsProblem(): string | null {
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-tmpfs-probe-'));
  try {
    const why = mountTmpfs(probe, 1);
    if (why === null) execFileSync('umount', [probe]);
    return why;
  } finally {
    fs.rmdirSync(probe);
  }
}

const cannotMount = tmpfsProblem();
const FULL_DISK = 'Full disk: a lease expiry does not throw, leases and jobs hold, new work is refused and reported, and it recovers by itself.';
if (cannotMount !== null) test.skip(`${FULL_DISK} (skipped: ${cannotMount})`, () => undefined);
else test(FULL_DISK, async (t) => {
  const mount = tempDir(t, 'tmpfs');
  const why = mountTmpfs(mount, 24);
  if (why !== null) throw new Error(why);
  const data = path.join(mount, 'data');
  const lines: string[] = [];
  const leaderLeaseMs = 300;
  const c = await SchedulerCore.open({ dataDir: data, leaseTimeoutMs: 1000, storageReserveBytes: 1 << 20, leaderLeaseMs, log: (l) => lines.push(l) });
  t.teardown(async () => {
    try {
      await c.close();
    } finally {
      execFileSync('umount', ['-l', mount]);
    }
  });
  const job = (await c.submit({ ...NEW_JOB, name: 'held' })).id!;
  const n1 = new Sink();
  const n2 = new Sink();
  await c.connect({ node: 'n1', slots: 1, running: [], version: '' }, n1);
  await c.connect({ node: 'n2', slots: 1, running: [], version: '' }, n2);
  t.like(await c.jobs.get(job), { state: 'running', node: 'n1' });
  const image = await imageBytes(t, c.images.jobKey(job), `job-${job}`, 1);
  const n2Session = n2.of('registered')[0]!.registered!.session!;

  const filler = fill(mount);
  const now = Date.now();
  // n2 keeps heartbeating; n1 is silent for longer than its lease. The expiry is the first write.
  t.true(await c.heartbeat('n2', n2Session, now + 800));
  await t.notThrowsAsync(() => c.tick(now + 1500));
  t.truthy(c.storage.degraded, 'the failed write degraded the scheduler');
  t.true(c.storage.status.startsWith(STORAGE_FULL));
  t.true(lines.some((l) => l.startsWith(STORAGE_FULL)), lines.join('\n'));
  t.like(await c.jobs.get(job), { state: 'running', node: 'n1', attempt: 1 }, 'the expiry is not recorded yet: nothing changed');
  t.false(n1.ended, "n1's stream stays open until its expiry is recorded");
  t.true(await c.heartbeat('n2', n2Session, now + 1600), 'a heartbeat renews the lease in memory');
  await t.notThrowsAsync(() => c.tick(now + 1700));

  // Longer than the leader's own lease with nothing written (however slow the machine, this only
  // waits longer): renewals that fail for want of space do not make it step down, since no
  // standby can write to take over either.
  await new Promise((resolve) => setTimeout(resolve, 2 * leaderLeaseMs));
  t.true(await c.leadership.round(), lines.join('\n'));
  t.true(c.leadership.leading);
  t.false(lines.some((l) => /stepped down/.test(l)), lines.join('\n'));

  const refused = await t.throwsAsync(() => c.submit(NEW_JOB), { instanceOf: SchedulerError });
  t.is(refused.status, 'RESOURCE_EXHAUSTED');
  t.regex(refused.message, /scheduler storage full: new work refused/);
  t.is((await c.jobs.list()).length, 1, 'no job was added');
  const upload = await c.upload({ job, attempt: 1, sequence: 1, bytes: image.length, node: 'n1' }, stream(image));
  t.like(upload, { accepted: false, status: 'RESOURCE_EXHAUSTED' });
  t.deepEqual(await c.listImages(job), []);
  t.deepEqual(fs.existsSync(c.images.store.jobDir(`job-${job}`)) ? fs.readdirSync(c.images.store.jobDir(`job-${job}`)) : [], []);

  // Space returns: the next tick records the expiry it could not, and takes work again.
  fs.rmSync(filler);
  await t.notThrowsAsync(() => c.tick(now + 1800));
  t.is(c.storage.degraded, null, lines.join('\n'));
  t.true(lines.some((l) => /has room again/.test(l)));
  t.true(n1.ended);
  t.like(await c.nodes.get('n1'), { alive: 0 });
  const moved = (await c.jobs.get(job))!;
  t.is(moved.moves, 1);
  t.true(moved.state === 'queued' || (moved.state === 'running' && moved.node === 'n2'), JSON.stringify(moved));
  t.is((await c.submit(NEW_JOB)).state, 'queued');
});

test('Errors of the disk are told apart from the others.', async (t) => {
  t.true(isStorageError(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })));
  t.true(isStorageError(Object.assign(new Error('x'), { code: 'SQLITE_IOERR_WRITE' })));
  t.true(isStorageError(new Error('wrapped', { cause: Object.assign(new Error('no space'), { code: 'ENOSPC' }) })));
  t.true(isStorageError(Object.assign(new Error('could not extend file'), { code: '53100' })), "PostgreSQL's disk_full");
  t.false(isStorageError(Object.assign(new Error('duplicate key'), { code: '23505' })));
  t.false(isStorageError(Object.assign(new Error('x'), { code: 'SQLITE_CONSTRAINT' })));
  t.false(isStorageError(new TypeError('x')));
});

const SERVE_FULL = 'A real scheduler on a full tmpfs survives a lost node and refused uploads, refuses submit, reports it, and recovers: the job ends right.';
if (cannotMount !== null) test.skip(`${SERVE_FULL} (skipped: ${cannotMount})`, () => undefined);
else test(SERVE_FULL, async (t) => {
  const mount = tempDir(t, 'tmpfs-serve');
  // Room for the default 64 MiB reserve once the filler is gone.
  const why = mountTmpfs(mount, 128);
  if (why !== null) throw new Error(why);
  t.teardown(() => execFileSync('umount', ['-l', mount]));
  const args = { steps: 600, stepMs: 20, length: 1 << 17 };
  const expected = uninterruptedResult(CLUSTER_JOB, args);
  const scheduler = await startScheduler(t, { dataDir: path.join(mount, 'data') });
  const agents = new Map([['a', await startAgent(t, scheduler.address, 'a')], ['b', await startAgent(t, scheduler.address, 'b')]]);
  const cluster = client(t, scheduler.address);
  const id = await submit(t, scheduler.address, CLUSTER_JOB, args, ['--interval', '0.2', '--retries', '0']);
  const running = await waitFor('an image of the job', async () => {
    const j = await job(cluster, id);
    return j.state === 'running' && j.images > 0 ? j : undefined;
  });
  const filler = fill(mount);
  // Its node dies while nothing can be written: the lease expires during the full period, and
  // the surviving node's uploads (once the job moves) are refused too.
  agents.get(running.node)!.child.kill('SIGKILL');
  const nodes = await waitFor('the scheduler to say its storage is full', async () => {
    const run = await runCli(t, ['nodes', ...scheduler.args]);
    return run.stderr.includes(STORAGE_FULL) ? run : undefined;
  });
  t.is(nodes.code, 0, show(nodes));
  const status = await runCli(t, ['status', ...scheduler.args]);
  t.is(status.code, 0, show(status));
  t.regex(status.stderr, /^warning: scheduler storage full: new work refused \(since /m);
  const refused = await runCli(t, ['submit', CLUSTER_JOB, ...scheduler.args]);
  t.is(refused.code, 1, show(refused));
  t.regex(refused.stderr, /scheduler storage full: new work refused/);
  t.false(scheduler.cli.exited, 'the scheduler is alive');
  t.is((await cluster.call('ListJobs', { states: [] })).jobs.length, 1, 'no job was added');

  fs.rmSync(filler);
  const done = await finished(cluster, id);
  t.is(done.state, 'succeeded', done.errorJson);
  t.deepEqual(JSON.parse(done.resultJson), await expected);
  t.true(done.moves >= 1, 'the job moved off the dead node once the expiry could be recorded');
  t.false(scheduler.cli.exited);
  t.regex(scheduler.cli.stderr, /has room again/);
  const after = await runCli(t, ['nodes', ...scheduler.args]);
  t.notRegex(after.stderr, /storage full/);
});
