// The cluster commands as a user meets them: help, errors that say what to do (exit 2 on usage,
// no stack traces), and each command against a real scheduler with its embedded local agent.
import test from 'ava';
import { runCli, show, STACK_FRAME, tempDir } from '../runner/helpers.js';
import { CLUSTER_JOB, client, finished, job, STEADY_LEASE_S, startScheduler, submit, waitFor } from './helpers.js';
import fs from 'node:fs';
import path from 'node:path';

const COMMANDS = ['serve', 'agent', 'submit', 'status', 'list', 'nodes', 'logs', 'result', 'cancel', 'checkpoint', 'drain', 'images'];

for (const command of COMMANDS) {
  test(`"cr-scheduler ${command} --help" exits 0 and shows usage.`, async (t) => {
    const run = await runCli(t, [command, '--help']);
    t.is(run.code, 0, show(run));
    t.regex(run.stdout, new RegExp(`Usage: cr-scheduler ${command}`));
  });
}

test('A command that cannot reach the scheduler says so and what to run, exit 1, no stack trace.', async (t) => {
  const run = await runCli(t, ['list', '--scheduler', '127.0.0.1:1']);
  t.is(run.code, 1, show(run));
  t.is(run.stderr, 'cr-scheduler: cannot reach the scheduler at 127.0.0.1:1: is "cr-scheduler serve" running? (set --scheduler or CR_SCHEDULER; if it listens with TLS, give --ca or CR_CA)\n');
  const env = await runCli(t, ['nodes'], { CR_SCHEDULER: '127.0.0.1:1' });
  t.regex(env.stderr, /cannot reach the scheduler at 127\.0\.0\.1:1/);
});

test('Usage errors exit 2 and name the problem: a job id that is not a number, a missing job file, bad JSON.', async (t) => {
  const id = await runCli(t, ['status', 'abc', '--scheduler', '127.0.0.1:1']);
  t.is(id.code, 2, show(id));
  t.regex(id.stderr, /"abc" is not a job id/);
  const file = await runCli(t, ['submit', '/nonexistent/job.mjs', '--scheduler', '127.0.0.1:1']);
  t.is(file.code, 2, show(file));
  t.regex(file.stderr, /no job file at \/nonexistent\/job\.mjs/);
  const args = await runCli(t, ['submit', CLUSTER_JOB, '--args', '{nope', '--scheduler', '127.0.0.1:1']);
  t.is(args.code, 2, show(args));
  t.regex(args.stderr, /not valid JSON/);
  for (const run of [id, file, args]) t.notRegex(run.stderr, STACK_FRAME);
});

test('A job whose imports cannot be bundled is refused before it is sent, naming the file, line and import.', async (t) => {
  const dir = tempDir(t, 'bundle');
  const file = path.join(dir, 'broken.mjs');
  fs.writeFileSync(file, "import { x } from './missing.mjs';\nexport default async () => x;\n");
  const run = await runCli(t, ['submit', file, '--scheduler', '127.0.0.1:1']);
  t.is(run.code, 1, show(run));
  t.is(
    run.stderr,
    [
      `cr-scheduler: ${file}:1:19: Cannot find module "./missing.mjs"`,
      "> 1 | import { x } from './missing.mjs';",
      '    |                   ^',
      '  2 | export default async () => x;',
      '',
    ].join('\n'),
  );
});

test('submit --watch, status, list, nodes, logs, images and result against a scheduler with its local agent.', async (t) => {
  const scheduler = await startScheduler(t, { localAgent: true, leaseS: STEADY_LEASE_S });
  const s = scheduler.args;
  const watched = await runCli(t, ['submit', CLUSTER_JOB, '--args', '{"steps": 40, "stepMs": 5}', '--interval', '0.05', '--name', 'watched', '--watch', ...s]);
  t.is(watched.code, 0, show(watched));
  const result = JSON.parse(watched.stdout) as { steps: number };
  t.is(result.steps, 40);
  t.regex(watched.stderr, /job 1: succeeded/);
  t.regex(watched.stderr, /\[scheduler\] attempt 1 placed on node/);

  const list = await runCli(t, ['list', ...s]);
  t.regex(list.stdout, /^ID\s+NAME\s+OWNER\s+STATE\s+NODE\s+DONE\s+ATTEMPTS\s+TIME$/m);
  t.regex(list.stdout, /^\s*1\s+watched\s+local-admin\s+succeeded\s+-\s+100%\s+1\s/m);
  const status = await runCli(t, ['status', '1', ...s]);
  t.regex(status.stdout, /^state\s+succeeded$/m);
  t.regex(status.stdout, /^owner\s+local-admin$/m);
  const json = JSON.parse((await runCli(t, ['status', '1', '--json', ...s])).stdout) as { state: string; result: unknown; images: number };
  t.is(json.state, 'succeeded');
  t.deepEqual(json.result, result);
  const res = await runCli(t, ['result', '1', ...s]);
  t.deepEqual(JSON.parse(res.stdout), result);
  const nodes = await runCli(t, ['nodes', ...s]);
  t.regex(nodes.stdout, /^NODE\s+STATE\s+SLOTS\s+RUNNING\s+LAST SEEN$/m);
  t.regex(nodes.stdout, /\salive\s/);
  const logs = await runCli(t, ['logs', '1', ...s]);
  t.regex(logs.stdout, /\[scheduler\] succeeded on node/);
  const follow = await runCli(t, ['logs', '1', '--follow', ...s]);
  t.is(follow.code, 0, 'a followed log ends with its job');
  t.is(follow.stdout, logs.stdout);
  t.regex(status.stdout, /^progress\s+100\.0%/m, 'no bar when stdout is not a terminal');
  const images = await runCli(t, ['images', '1', ...s]);
  t.true(json.images === 0 || /^IMAGE\s+ATTEMPT\s+NODE\s+SIZE\s+KIND\s+TAKEN$/m.test(images.stdout), images.stdout);

  const unknown = await runCli(t, ['status', '999', ...s]);
  t.is(unknown.code, 1);
  t.is(unknown.stderr, 'cr-scheduler: no job 999: "cr-scheduler list" shows the jobs\n');
  const noNode = await runCli(t, ['drain', 'nosuchnode', ...s]);
  t.regex(noNode.stderr, /no node "nosuchnode": "cr-scheduler nodes" lists them/);
});

test('checkpoint JOB makes a running job take an image now; cancel ends it; result says why there is none.', async (t) => {
  const scheduler = await startScheduler(t, { localAgent: true, leaseS: STEADY_LEASE_S });
  const s = scheduler.args;
  const cluster = client(t, scheduler.address);
  const id = await submit(t, scheduler.address, CLUSTER_JOB, { steps: 100000, stepMs: 5 }, ['--interval', '3600']);
  await waitFor('the job to run', async () => ((await job(cluster, id)).progress > 0 ? true : undefined));
  const cp = await runCli(t, ['checkpoint', String(id), ...s]);
  t.is(cp.code, 0, show(cp));
  await waitFor('the image', async () => ((await job(cluster, id)).images > 0 ? true : undefined));
  const listed = await runCli(t, ['images', String(id), '--json', ...s]);
  t.is((JSON.parse(listed.stdout) as unknown[]).length, 1);
  const pending = await runCli(t, ['result', String(id), ...s]);
  t.is(pending.code, 1);
  t.regex(pending.stderr, /job \d+ has no result; it is running: wait for it with "cr-scheduler status \d+ --watch"/);
  const cancel = await runCli(t, ['cancel', String(id), ...s]);
  t.is(cancel.stdout, `job ${id} cancelled\n`);
  const done = await finished(cluster, id);
  t.is(done.state, 'cancelled');
  const again = await runCli(t, ['checkpoint', String(id), ...s]);
  t.is(again.code, 1);
  t.regex(again.stderr, /job \d+ was cancelled: only a running job can take a checkpoint/);
});

test("A job that fails by its own error is retried, with cr.attempt counting the cluster's attempts; past its retries it fails.", async (t) => {
  const scheduler = await startScheduler(t, { localAgent: true, leaseS: STEADY_LEASE_S });
  const cluster = client(t, scheduler.address);
  const recovers = await submit(t, scheduler.address, CLUSTER_JOB, { steps: 20, stepMs: 0, failAttempts: 1 }, ['--retries', '1']);
  const gives = await submit(t, scheduler.address, CLUSTER_JOB, { steps: 20, stepMs: 0, failAttempts: 5 }, ['--retries', '1']);
  const ok = await finished(cluster, recovers);
  t.is(ok.state, 'succeeded', ok.errorJson);
  t.like(ok, { attempt: 2, retriesUsed: 1, moves: 0 });
  const bad = await finished(cluster, gives);
  t.like(bad, { state: 'failed', attempt: 2, retriesUsed: 1 });
  t.regex(bad.errorJson, /planned failure on attempt 2/);
  const result = await runCli(t, ['result', String(gives), ...scheduler.args]);
  t.is(result.code, 1);
  t.regex(result.stderr, /has no result; it failed: cluster-job: planned failure on attempt 2/);
});

test('A scheduler without a local agent runs under single-threaded garbage collection, in the same process it was started as; with its local agent, or CR_SCHEDULER_GC=parallel, under V8’s default.', async (t) => {
  const cmdline = (pid: number): string[] => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const alone = await startScheduler(t);
  // The pid the test started is the scheduler: execv kept it, so signals reach the scheduler itself.
  t.true(cmdline(alone.cli.child.pid!).includes('--single-threaded-gc'), cmdline(alone.cli.child.pid!).join(' '));
  const withAgent = await startScheduler(t, { localAgent: true, leaseS: STEADY_LEASE_S });
  t.false(cmdline(withAgent.cli.child.pid!).includes('--single-threaded-gc'));
  const parallel = await startScheduler(t, { env: { CR_SCHEDULER_GC: 'parallel' } });
  t.false(cmdline(parallel.cli.child.pid!).includes('--single-threaded-gc'));
  alone.cli.child.kill('SIGTERM');
  const exit = await alone.cli.exit;
  t.is(exit.code, 0, 'SIGTERM reaches the scheduler, which shuts down cleanly');
  t.regex(alone.cli.stderr, /SIGTERM: shutting down/);
});
