// The agent's side of a job's process (scheduler/agent/job-host.ts), without a scheduler: the
// environment a job gets, and a real job process run to its end, stopped, and dying on its own.
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { jobEnvironment, JobProcess, JOB_ENV_KEPT } from '../../../scheduler/agent/job-host.js';
import { resolvePolicyOptions } from '../../../src/policy.js';
import type { RunEvent, RunOptions } from '../../../src/runner/runner.js';
import { FIXTURES, tempDir } from '../../runner/helpers.js';

test('A job\'s environment drops every CR_* variable but the library\'s knobs, and every variable that holds a hidden string; under a run-as user it names that user.', (t) => {
  const env = {
    PATH: '/usr/bin',
    CR_TOKEN: 'crt_x',
    CR_TOKEN_FILE: '/etc/cr/token',
    CR_WORK: '/var/lib/cr-agent',
    CR_SCHEDULER: 'sched:7070',
    CR_NATIVE: '0',
    CR_DIRTY: 'hash',
    CR_DIRECT_READS: '0',
    CR_SIMD: 'avx2',
    TOOL_HOME: '/var/lib/cr-agent/tool',
    TOOL_AUTH: 'Bearer crt_secret_1',
    HOME: '/root',
  };
  const out = jobEnvironment(env, { runAs: null, hidden: ['/var/lib/cr-agent', 'crt_secret_1', ''] });
  t.deepEqual(out, { PATH: '/usr/bin', CR_NATIVE: '0', CR_DIRTY: 'hash', CR_DIRECT_READS: '0', CR_SIMD: 'avx2', HOME: '/root' });
  for (const name of Object.keys(out)) if (name.startsWith('CR_')) t.true(JOB_ENV_KEPT.has(name));
  const runAs = jobEnvironment(env, { runAs: { user: 'cr-job', uid: 990, gid: 990, home: '/nonexistent' }, hidden: [] });
  t.like(runAs, { HOME: '/nonexistent', USER: 'cr-job', LOGNAME: 'cr-job', PATH: '/usr/bin' });
  t.is(runAs.CR_TOKEN, undefined);
});

function options(t: ExecutionContext, jobFile: string, args: unknown): RunOptions {
  return {
    jobFile,
    args,
    job: 'job-1',
    storeDir: path.join(tempDir(t, 'job-host'), 'store'),
    keyFile: null,
    keepImages: 8,
    policy: resolvePolicyOptions({ intervalMs: 3_600_000, everyCalls: null, mtbfMs: null }),
    fullEvery: 8,
    dirty: 'auto',
    retries: 0,
    retryDelayMs: 1000,
    from: null,
    fresh: false,
    code: { code: '0'.repeat(64), files: null },
    recordFinished: false,
    level: 1,
    codec: 'auto',
    maxHeapMb: null,
    firstAttempt: 1,
  };
}

function gone(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

test('A job process runs the job to its result in a process of its own, relays its events, and is gone once it reports.', async (t) => {
  const job = new JobProcess(options(t, path.join(FIXTURES, 'counter-job.mjs'), { steps: 20 }), { runAs: null, hidden: [] }, tempDir(t, 'cwd'));
  const events: RunEvent[] = [];
  job.on((e) => events.push(e));
  job.requestCheckpoint();
  const outcome = await job.run();
  t.like(outcome, { status: 'succeeded', attempts: 1 });
  t.is((outcome as { result: { steps: number } }).result.steps, 20);
  t.not(job.pid, process.pid);
  t.true(gone(job.pid!), 'the job process has ended');
  t.is(events[0]?.type, 'started');
  t.true(events.some((e) => e.type === 'checkpoint'), 'the checkpoint asked for before it started was taken and reported');
});

test('A stop asked for before the job process started checkpoints at the first safe point and ends the run as stopped.', async (t) => {
  const job = new JobProcess(options(t, path.join(FIXTURES, 'counter-job.mjs'), { steps: 1_000_000 }), { runAs: null, hidden: [] }, tempDir(t, 'cwd'));
  job.requestStop();
  const outcome = await job.run();
  t.is(outcome.status, 'stopped');
});

test('A job that kills its own process fails the run with a message that says so, and nothing else.', async (t) => {
  const file = path.join(tempDir(t, 'suicide'), 'suicide.mjs');
  fs.writeFileSync(file, "export default async () => { process.kill(process.pid, 'SIGKILL'); await new Promise(() => undefined); };\n");
  const outcome = await new JobProcess(options(t, file, {}), { runAs: null, hidden: [] }, tempDir(t, 'cwd')).run();
  t.is(outcome.status, 'failed');
  const error = (outcome as { error: { code: string | null; message: string } }).error;
  t.is(error.code, null);
  t.regex(error.message, /^the job's process ended \(signal SIGKILL\) before the job did$/);
});

test('A job process killed while it runs ends the run as failed at once.', async (t) => {
  const job = new JobProcess(options(t, path.join(FIXTURES, 'counter-job.mjs'), { steps: 1_000_000_000 }), { runAs: null, hidden: [] }, tempDir(t, 'cwd'));
  const started = new Promise<void>((resolve) => job.on((e) => e.type === 'started' && resolve()));
  const run = job.run();
  await started;
  await job.kill();
  const outcome = await run;
  t.is(outcome.status, 'failed');
  t.regex((outcome as { error: { message: string } }).error.message, /the job's process was killed/);
  t.true(gone(job.pid!));
});
