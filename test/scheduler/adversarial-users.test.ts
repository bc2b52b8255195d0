// The adversarial suite for users: a user token acts only on the jobs it submitted (status,
// logs, result, images, cancel, checkpoint); `list` shows one's own jobs, `list --all`
// everyone's without their results; admins act on all. Each refusal is PERMISSION_DENIED,
// changes nothing, and leaves an event of the job naming the caller, which its owner sees.
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { schedulerClient, unary } from '../../scheduler/proto/load.js';
import { runCli } from '../runner/helpers.js';
import { events, snapshot, startRealAgent, startSecureCluster, statusOf, victimJob } from './adversary.js';

test("A user cannot see, follow, cancel, checkpoint or read the images of another user's job, over gRPC or the CLI; list --all shows it read-only; an admin may act.", async (t) => {
  const cluster = await startSecureCluster(t, 'loopback');
  await startRealAgent(t, cluster, 'honest');
  const [alice, bob] = [await cluster.token('user', 3600, 'alice'), await cluster.token('user', 3600, 'bob')];
  const job = await victimJob(t, cluster, alice);
  const asBob = schedulerClient(cluster.address, cluster.withToken(bob));
  const asAlice = schedulerClient(cluster.address, cluster.withToken(alice));
  t.teardown(() => {
    asBob.close();
    asAlice.close();
  });
  const before = snapshot(cluster, job.id);
  const calls = {
    GetJob: await statusOf(unary(asBob, 'GetJob', { job: job.id })),
    GetLogs: await statusOf(unary(asBob, 'GetLogs', { job: job.id, after: 0 })),
    ListImages: await statusOf(unary(asBob, 'ListImages', { job: job.id })),
    DeleteImages: await statusOf(unary(asBob, 'DeleteImages', { job: job.id })),
    Checkpoint: await statusOf(unary(asBob, 'Checkpoint', { job: job.id })),
    Cancel: await statusOf(unary(asBob, 'Cancel', { job: job.id })),
  };
  for (const [rpc, s] of Object.entries(calls)) {
    t.is(s.code, grpc.status.PERMISSION_DENIED, `${rpc}: ${s.details}`);
    t.regex(s.details, new RegExp(`job ${job.id} belongs to alice: token [0-9a-f]{12} \\(user "bob"\\) may not`), rpc);
  }
  // The CLI says so, one line, exit 1.
  const env = { CR_TOKEN: bob };
  const base = ['--scheduler', cluster.address];
  for (const command of [['status', String(job.id)], ['result', String(job.id)], ['cancel', String(job.id)]]) {
    const run = await runCli(t, [...command, ...base], env);
    t.is(run.code, 1, `${command[0]}: ${run.stdout}${run.stderr}`);
    t.regex(run.stderr, /^cr-scheduler: permission denied: job \d+ belongs to alice/, command[0]);
  }
  // bob's list is empty; with --all he sees alice's job, its owner, and not what it produced.
  t.deepEqual((await unary(asBob, 'ListJobs', { states: [] })).jobs, []);
  const all = (await unary(asBob, 'ListJobs', { states: [], all: true })).jobs;
  t.is(all.length, 1);
  t.like(all[0], { id: job.id, owner: 'alice', message: '', resultJson: '', errorJson: '' });
  const listed = await runCli(t, ['list', '--all', ...base], env);
  t.is(listed.code, 0, listed.stderr);
  t.regex(listed.stdout, new RegExp(`^\\s*${job.id}\\s+victim\\s+alice\\s+running\\s`, 'm'));
  t.deepEqual(snapshot(cluster, job.id), before, 'nothing changed');
  // alice sees her job, its owner, and who tried what.
  const own = await unary(asAlice, 'GetJob', { job: job.id });
  t.like(own, { state: 'running', owner: 'alice' });
  t.is((await unary(asAlice, 'ListJobs', { states: [] })).jobs.length, 1);
  const lines = await events(cluster, job.id);
  for (const what of ['see', 'read the logs of', 'list the images of', 'delete the images of', 'checkpoint', 'cancel']) {
    t.true(lines.some((l) => new RegExp(`^refused ${what} from token [0-9a-f]{12} \\(user "bob"\\): not its owner$`).test(l)), `${what}: ${lines.join('\n')}`);
  }
  const { lines: seen } = await unary(asAlice, 'GetLogs', { job: job.id, after: 0 });
  t.true(seen.some((l) => l.text.includes('(user "bob")')), 'the owner sees the attempts in her logs');
  // An admin acts on every job.
  const cancelled = await unary(cluster.admin, 'Cancel', { job: job.id });
  t.is(cancelled.state, 'cancelled');
});
