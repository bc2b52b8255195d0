// Three schedulers on one data directory and three agents, on SQLite in npm test's first run and
// on PostgreSQL in its second (ava.postgres.config.mjs): the leader SIGKILLed during a burst
// of submits, during an image upload and during a drain; the leader SIGSTOPped past its lease
// while a standby takes over, then SIGCONTed and unable to write; everything restarted. No
// acknowledged job is lost, none runs twice, every result equals an uninterrupted run's.
// Each step waits for the event it needs (a job acknowledged, an upload's temp file, a drain
// under way, another scheduler leading), never for a time.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { bundleJob } from '../../../scheduler/bundle.js';
import { NoSchedulerError } from '../../../scheduler/cluster-errors.js';
import { classify, SchedulerSet } from '../../../scheduler/leader-follow.js';
import { storeJobName } from '../../../scheduler/names.js';
import { unary } from '../../../scheduler/proto/load.js';
import { HANG_GUARD_MS } from '../../runner/helpers.js';
import { CLUSTER_JOB, waitFor } from '../helpers.js';
import { assertExactlyOnce, haBackend, haProblem, startHa, type Ha } from './helpers.js';

const it = haProblem === null ? test.serial : test.skip;
const title = (s: string): string => (haProblem === null ? `${s}${haBackend}` : `${s}${haBackend} [skipped: ${haProblem}]`);

const ARGS = { steps: 120, stepMs: 20 };

async function submitJob(ha: Ha, name: string, args: unknown, code: Buffer): Promise<number> {
  return (await ha.call('Submit', { name, code, argsJson: JSON.stringify(args), intervalMs: 200, retries: 5 })).id;
}

/** SIGKILLs scheduler `i` and waits until it is gone (its port closed). */
async function kill(ha: Ha, i: number): Promise<void> {
  const cli = ha.schedulers[i]!;
  cli.child.kill('SIGKILL');
  await cli.exit;
}

it(title('The leader SIGKILLed during a burst of submits: every acknowledged job runs exactly once with its uninterrupted result.'), async (t) => {
  const ha = await startHa(t, ['a1', 'a2', 'a3']);
  const code = await bundleJob(CLUSTER_JOB);
  const leader = await ha.leader();
  const acknowledged: number[] = [];
  const lost: string[] = [];
  for (let i = 0; i < 12; i++) {
    // Killed once five submits were acknowledged: the rest go to the standby that takes over.
    if (i === 5) await kill(ha, leader);
    try {
      acknowledged.push(await submitJob(ha, `burst${i}`, ARGS, code));
    } catch (err) {
      // A submit the dead leader may have taken before it died is not acknowledged (and not repeated).
      t.true(err instanceof NoSchedulerError, String(err));
      t.is((err as NoSchedulerError).code, 'CR_SCHEDULER_LOST');
      lost.push((err as Error).message);
    }
  }
  t.true(acknowledged.length >= 11, lost.join('\n'));
  t.not(await ha.leader(), leader);
  await assertExactlyOnce(t, ha, acknowledged.map((id) => ({ id, args: ARGS })));
  // A job the dead leader took without acknowledging it runs at most once too.
  const { jobs } = await ha.call('ListJobs', { states: [], all: true });
  for (const j of jobs.filter((x) => !acknowledged.includes(x.id))) {
    const { lines } = await ha.call('GetLogs', { job: j.id, after: 0 });
    t.true(lines.filter((l) => l.kind === 'event' && l.text.startsWith('succeeded')).length <= 1, `job ${j.id}`);
  }
});

it(title('The leader SIGKILLed during an image upload: the agent uploads again to the new leader and the job finishes once with its uninterrupted result.'), async (t) => {
  const ha = await startHa(t, ['a1', 'a2', 'a3']);
  // A large region: each image takes a while to stream, so the kill lands in one.
  const args = { steps: 60, stepMs: 50, length: 6 << 20 };
  const id = await submitJob(ha, 'upload', args, await bundleJob(CLUSTER_JOB));
  const leader = await ha.leader();
  const jobDir = path.join(ha.dataDir, 'images', storeJobName(id));
  // An image being received: the scheduler's temp file in the job's image directory.
  await waitFor('an upload under way', async () => (fs.existsSync(jobDir) && fs.readdirSync(jobDir).some((f) => f.includes('.tmp.')) ? true : undefined), HANG_GUARD_MS, 5);
  const before = await ha.call('GetJob', { job: id });
  await kill(ha, leader);
  await assertExactlyOnce(t, ha, [{ id, args }]);
  const after = await ha.call('GetJob', { job: id });
  t.is(after.attempt, before.attempt, 'the attempt ran on through the leader change');
  t.true(after.images > before.images, 'images were recorded by the new leader');
});

it(title('The leader SIGKILLed during a drain: the drained job moves to another node and finishes once with its uninterrupted result.'), async (t) => {
  const ha = await startHa(t, ['a1', 'a2', 'a3']);
  const args = { steps: 150, stepMs: 20, holdAt: 40 };
  const id = await submitJob(ha, 'drained', args, await bundleJob(CLUSTER_JOB));
  const running = await waitFor('the job to hold with an image', async () => {
    const j = await ha.call('GetJob', { job: id });
    return j.state === 'running' && j.images > 0 && j.progress >= 40 / 150 ? j : undefined;
  });
  const leader = await ha.leader();
  await ha.call('Drain', { node: running.node, undo: false });
  await waitFor('the drain to be under way', async () => ((await ha.call('GetJob', { job: id })).pending === 'migrate' ? true : undefined));
  await kill(ha, leader);
  // Holding changes nothing the job computes; the uninterrupted run must not hold (nothing would stop it).
  await assertExactlyOnce(t, ha, [{ id, args: { steps: args.steps, stepMs: args.stepMs } }]);
  const { lines } = await ha.call('GetLogs', { job: id, after: 0 });
  t.true(lines.some((l) => l.kind === 'event' && l.text.startsWith('attempt 2 placed on node') && !l.text.endsWith(` ${running.node}`)), 'the drained job moved to another node');
});

it(title('A leader SIGSTOPped past its lease loses it to a standby; SIGCONTed, it cannot write and names the new leader; the jobs finish once.'), async (t) => {
  const ha = await startHa(t, ['a1', 'a2', 'a3']);
  const code = await bundleJob(CLUSTER_JOB);
  const ids = [await submitJob(ha, 'stop0', ARGS, code), await submitJob(ha, 'stop1', ARGS, code)];
  const old = await ha.leader();
  const paused = ha.schedulers[old]!;
  paused.child.kill('SIGSTOP');
  t.teardown(() => void paused.child.kill('SIGCONT'));
  // Another scheduler carries out writes: it leads.
  const now = await waitFor('a standby to lead', async () => {
    const i = await ha.leader();
    return i !== old ? i : undefined;
  });
  paused.child.kill('SIGCONT');
  // The old leader, asked directly, refuses a write as a standby and names the new leader.
  const direct = new SchedulerSet([ha.addresses[old]!], { token: ha.token });
  t.teardown(() => direct.close());
  const refusal = await waitFor('the old leader to refuse a write', async () => {
    try {
      await unary(direct.client(), 'CreateToken', { role: 'user', ttlS: 60, label: 'old leader' }, 30_000);
      t.fail('the old leader carried out a write after it lost its lease');
      return 'wrote';
    } catch (err) {
      const r = classify(err);
      return r.kind === 'standby' ? r : undefined;
    }
  });
  t.like(refusal, { kind: 'standby', leader: ha.addresses[now] });
  await assertExactlyOnce(t, ha, ids.map((id) => ({ id, args: ARGS })));
});

it(title('Every scheduler and agent SIGKILLed and started again: the jobs finish once with their uninterrupted results.'), async (t) => {
  const ha = await startHa(t, ['a1', 'a2', 'a3']);
  const code = await bundleJob(CLUSTER_JOB);
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push(await submitJob(ha, `all${i}`, ARGS, code));
  await waitFor('jobs running with images', async () => {
    const { jobs } = await ha.call('ListJobs', { states: ['running'] });
    return jobs.filter((j) => j.images > 0).length >= 2 ? true : undefined;
  });
  await Promise.all([...ha.agents.values()].map(async (a) => (a.child.kill('SIGKILL'), await a.exit)));
  for (let i = 0; i < 3; i++) await kill(ha, i);
  for (let i = 0; i < 3; i++) await ha.startScheduler(i);
  for (const name of [...ha.agents.keys()]) await ha.startAgent(name);
  await assertExactlyOnce(t, ha, ids.map((id) => ({ id, args: ARGS })));
});
