// A job runs apart from its agent's secrets (scheduler/agent/job-process.ts, job-host.ts,
// run-as.ts), against a real scheduler and real agents as processes on loopback: the job looks
// for the agent's credentials in its environment and its files and finds none; under --run-as
// it cannot open them at all; a cancel and a SIGKILL of the agent leave no process of the job.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { JOB_ENV_KEPT } from '../../../scheduler/agent/job-host.js';
import { FIXTURES, runCli, startCli, tempDir, type CliProcess } from '../../runner/helpers.js';
import { client, createToken, finished, job, startScheduler, submit, waitFor } from '../helpers.js';
import { HANG_GUARD_MS } from '../../hang-guard.js';

const SNOOP_JOB = path.join(FIXTURES, 'snoop-job.mjs');
const RUN_AS_USER = 'cr-test-job';

interface Snooped {
  pid: number;
  uid: number;
  crVariables: string[];
  leaks: string[];
  files: Record<string, string>;
}

/** Whether process `pid` still runs (a zombie, whose parent died, runs no more). */
function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** A token file of the agent's own, mode 0600, in a directory others may pass through (so the file's mode is what guards it). */
function tokenFile(t: ExecutionContext, token: string): string {
  const dir = tempDir(t, 'agent-token');
  fs.chmodSync(dir, 0o755);
  const file = path.join(dir, 'agent.token');
  fs.writeFileSync(file, token, { mode: 0o600 });
  return file;
}

function startAgent(t: ExecutionContext, args: string[], env: NodeJS.ProcessEnv): CliProcess {
  const agent = startCli(t, ['agent', '--slots', '1', ...args], env);
  return agent;
}

/** The uid of the user jobs run as in the --run-as tests (created when missing), or why there is none. */
function runAsUser(): { uid: number } | { reason: string } {
  if (process.getuid?.() !== 0) return { reason: '--run-as needs the tests to run as root (the agent switches uids)' };
  const exists = (): boolean => {
    try {
      execFileSync('getent', ['passwd', RUN_AS_USER], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (!exists()) {
    try {
      execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', RUN_AS_USER], { stdio: 'ignore' });
    } catch (err) {
      // Another test file may have created it meanwhile.
      if (!exists()) return { reason: `there is no user ${RUN_AS_USER} and useradd could not create one (${(err as Error).message})` };
    }
  }
  // The job's process runs cr's own code as that user: a checkout under a private directory (a
  // `mktemp -d` clone, mode 0700) cannot be run from at all.
  const entry = fileURLToPath(new URL('../../../scheduler/agent/job-process.js', import.meta.url));
  try {
    execFileSync('runuser', ['-u', RUN_AS_USER, '--', 'test', '-r', entry], { stdio: 'ignore' });
  } catch {
    return { reason: `${RUN_AS_USER} cannot read cr's code at ${entry} (a directory above it is private): --run-as needs cr installed where the job's user can read it` };
  }
  return { uid: Number(execFileSync('id', ['-u', RUN_AS_USER], { encoding: 'utf8' }).trim()) };
}

const runAs = runAsUser();
/** A test that needs the run-as user: skipped, with the reason in its title, when there is none. */
function runAsTest(title: string, fn: (t: ExecutionContext, uid: number) => Promise<void>): void {
  if ('uid' in runAs) test(title, (t) => fn(t, runAs.uid));
  else test.skip(`${title} [skipped: ${runAs.reason}]`, () => undefined);
}

test("A job's process holds no CR_* variable of its agent and no variable naming its token, token file or work directory.", async (t) => {
  const scheduler = await startScheduler(t);
  const token = await createToken(scheduler.address, 'agent');
  const file = tokenFile(t, token);
  const work = tempDir(t, 'agent-env');
  const agent = startAgent(t, ['--scheduler', scheduler.address, '--name', 'n1', '--work', work], {
    CR_TOKEN_FILE: file,
    CR_SCHEDULER_GC: 'off',
    SOME_TOOL_CONFIG: path.join(work, 'image.key'),
    SOME_TOOL_SECRET: `prefix-${token}`,
  });
  await agent.waitForStderr(/registered with the scheduler/);
  const cluster = client(t, scheduler.address);
  const id = await submit(t, scheduler.address, SNOOP_JOB, { secrets: [token, file, work] });
  const done = await finished(cluster, id);
  t.is(done.state, 'succeeded', done.errorJson);
  const found = JSON.parse(done.resultJson) as Snooped;
  t.deepEqual(found.crVariables.filter((name) => !JOB_ENV_KEPT.has(name)), [], 'no CR_* variable but the library knobs');
  t.deepEqual(found.leaks, [], 'no variable holds the token or names the token file or the work directory');
  t.not(found.pid, agent.child.pid, 'the job runs in a process of its own');
  t.regex(agent.stderr, new RegExp(`job ${id} attempt 1: running in process ${found.pid}\\n`));
});

runAsTest("Under --run-as a job runs as that user and cannot open the agent's token file, certificate key, the cluster key (agent's copy and scheduler's) or the agent's environ: EACCES.", async (t, uid) => {
  const data = tempDir(t, 'tls-scheduler');
  // Others may pass through the data directory: the files' own modes are what guard them here.
  fs.chmodSync(data, 0o755);
  const serve = startCli(t, ['serve', '--listen', '127.0.0.1', '--tls', '--port', '0', '--data', data, '--no-local-agent', '--lease-timeout', '3']);
  await serve.waitUntil(() => /listening on \S+\n/.test(serve.stdout), 'the scheduler to listen');
  const address = /listening on (\S+)\n/.exec(serve.stdout)![1]!;
  const ca = path.join(data, 'tls', 'ca.pem');
  const admin = ['--scheduler', address, '--token-file', path.join(data, 'admin.token'), '--ca', ca];
  const create = await runCli(t, ['token', 'create', '--role', 'agent', '--ttl', '600', ...admin]);
  t.is(create.code, 0, create.stderr);
  const token = create.stdout.trim();
  const file = tokenFile(t, token);
  const work = tempDir(t, 'agent-run-as');
  const agent = startAgent(t, ['--scheduler', address, '--ca', ca, '--name', 'n1', '--work', work, '--run-as', RUN_AS_USER], { CR_TOKEN_FILE: file });
  await agent.waitForStderr(/registered with the scheduler/);
  const secrets = [file, path.join(work, 'tls', 'agent.key'), path.join(work, 'image.key'), path.join(data, 'images', '.key'), path.join(data, 'tls', 'ca.key'), `/proc/${agent.child.pid}/environ`];
  for (const secret of secrets) t.true(fs.existsSync(secret), `${secret} exists`);
  const submitted = await runCli(t, ['submit', SNOOP_JOB, '--args', JSON.stringify({ files: secrets, secrets: [token, file, work], checkpoint: true }), ...admin]);
  t.is(submitted.code, 0, submitted.stderr);
  const id = Number(submitted.stdout.trim());
  const done = await waitFor('the job to end', async () => {
    const run = await runCli(t, ['status', String(id), '--json', ...admin]);
    const j = JSON.parse(run.stdout) as { state: string; result: Snooped | null; error: unknown; images: number };
    return ['succeeded', 'failed', 'cancelled'].includes(j.state) ? j : undefined;
  });
  t.is(done.state, 'succeeded', JSON.stringify(done.error));
  const found = done.result!;
  t.is(found.uid, uid, `the job ran as ${RUN_AS_USER}`);
  t.deepEqual(found.files, Object.fromEntries(secrets.map((s) => [s, 'EACCES'])));
  t.deepEqual(found.crVariables.filter((name) => !JOB_ENV_KEPT.has(name)), []);
  t.deepEqual(found.leaks, []);
  // Its store was its own: the checkpoint it took reached the scheduler.
  t.true(done.images >= 1, 'the job\'s image was uploaded');
});

runAsTest('agent --run-as refuses a token file that the job user could read, or a user that does not exist, and says how to fix it.', async (t) => {
  const file = tokenFile(t, 'crt_000000000000_notarealtoken');
  fs.chmodSync(file, 0o644);
  const run = await runCli(t, ['agent', '--scheduler', '127.0.0.1:1', '--name', 'n1', '--work', tempDir(t, 'agent'), '--run-as', RUN_AS_USER], { CR_TOKEN_FILE: file });
  t.is(run.code, 1);
  t.regex(run.stderr, new RegExp(`^cr-scheduler: ${file} is readable by jobs run as ${RUN_AS_USER} \\(owner uid 0, mode 0644\\): make it the agent's alone`));
  const unknown = await runCli(t, ['agent', '--scheduler', '127.0.0.1:1', '--name', 'n1', '--work', tempDir(t, 'agent'), '--run-as', 'no-such-user-cr']);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /^cr-scheduler: --run-as: there is no user "no-such-user-cr" on this machine/);
});

/** Starts the snoop job waiting on a file that never appears; resolves with the pids it logged. */
async function waitingJob(t: ExecutionContext, address: string): Promise<{ id: number; pid: number; child: number }> {
  const cluster = client(t, address);
  const id = await submit(t, address, SNOOP_JOB, { waitFor: path.join(tempDir(t, 'never'), 'never'), spawnChild: true });
  return waitFor('the job to log its pids', async () => {
    const { lines } = await cluster.call('GetLogs', { job: id, after: 0 });
    const m = lines.map((l) => /snoop pid (\d+) child (\d+)/.exec(l.text)).find((x) => x !== null);
    return m ? { id, pid: Number(m[1]), child: Number(m[2]) } : undefined;
  });
}

/** A scheduler, one agent, and a job on it that waits (with a child process of its own) until ended. */
async function agentWithWaitingJob(t: ExecutionContext) {
  const scheduler = await startScheduler(t);
  const token = await createToken(scheduler.address, 'agent');
  const agent = startAgent(t, ['--scheduler', scheduler.address, '--name', 'n1', '--work', tempDir(t, 'agent')], { CR_TOKEN: token });
  await agent.waitForStderr(/registered with the scheduler/);
  const { id, pid, child } = await waitingJob(t, scheduler.address);
  t.true(running(pid) && running(child), 'the job and its child run');
  return { scheduler, agent, id, pid, child };
}

test("Cancelling a job kills its process and the processes it started.", async (t) => {
  const { scheduler, agent, id, pid, child } = await agentWithWaitingJob(t);
  const cancel = await runCli(t, ['cancel', String(id), ...scheduler.args]);
  t.is(cancel.code, 0, cancel.stderr);
  const cluster = client(t, scheduler.address);
  t.is((await finished(cluster, id)).state, 'cancelled');
  await waitFor('the job process and its child to end', async () => (!running(pid) && !running(child) ? true : undefined), HANG_GUARD_MS);
  t.false(agent.exited, 'the agent goes on');
});

test("Killing the agent with SIGKILL ends its job's process and the processes it started.", async (t) => {
  const { scheduler, agent, id, pid, child } = await agentWithWaitingJob(t);
  // Should the job outlive its agent (the failure this test looks for), it is ended after the test.
  t.teardown(() => {
    if (running(pid)) process.kill(-pid, 'SIGKILL');
  });
  const exited = new Promise((resolve) => agent.child.once('exit', resolve));
  agent.child.kill('SIGKILL');
  // 'exit', not the end of its output: a job process that outlived it would hold that open.
  await exited;
  await waitFor('the orphaned job process and its child to end', async () => (!running(pid) && !running(child) ? true : undefined), HANG_GUARD_MS);
  // The scheduler sees the node go and queues the job again.
  const cluster = client(t, scheduler.address);
  const queued = await waitFor('the job to be queued again', async () => ((await job(cluster, id)).state === 'queued' ? true : undefined));
  t.true(queued);
});
