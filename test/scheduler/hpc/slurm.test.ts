// With a real Slurm (single node, started by the test): a cr job whose wall time is shorter than
// its work is checkpointed ahead of the wall time on Slurm's signal, requeued and resumed until it
// finishes, with the result of an uninterrupted run; a pilot agent is drained at the end of its
// allocation while its job moves to another agent. Skipped, saying how to get Slurm, where it
// cannot run.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { CLI, tempDir, uninterruptedResult } from '../../runner/helpers.js';
import { CLUSTER_JOB, client, createToken, finished, startAgent, startScheduler, submit, underWay, waitFor } from '../helpers.js';
import { slurmUnavailable, startSlurm, type Slurm } from './slurm-helpers.js';
import { HANG_GUARD_MS } from '../../hang-guard.js';

const exec = promisify(execFile);
const unavailable = slurmUnavailable();
/** Serial (one Slurm at a time); where Slurm cannot run, skipped with the reason in its title. */
function slurmTest(title: string, fn: (t: ExecutionContext) => Promise<void>): void {
  if (unavailable === null) test.serial(title, fn);
  else test.skip(`${title} [skipped: ${unavailable}]`, fn);
}

// Slurm may send the signal up to 60 s before the lead asks (it checks time limits about every
// 30 s): two minutes and a lead of 50 s bring it 10–70 s into each allocation, never as the
// batch shell starts (where a USR1 ends the job before the script can trap it: with one minute
// and 50 s it came there, 0.1 s in).
const TIME = ['--time', '2', '--signal-lead', '50'];

/** `cr-scheduler slurm script ...` run in `cwd`; the script file it wrote. */
async function makeScript(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await exec(process.execPath, [CLI, 'slurm', 'script', ...args], { cwd });
  const file = path.join(cwd, 'job.sbatch');
  fs.writeFileSync(file, stdout);
  return file;
}

/** Waits until Slurm says the job ended (hurrying it through requeues); returns its record. */
function slurmEnd(slurm: Slurm, id: number, timeoutMs: number): Promise<Record<string, string>> {
  return waitFor(`slurm job ${id} to end`, async () => {
    await slurm.hurry(id);
    const j = await slurm.job(id);
    if (j === null) throw new Error(`slurm job ${id} was forgotten`);
    return /^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY)$/.test(j.JobState ?? '') ? j : undefined;
  }, timeoutMs, 500);
}

slurmTest('A job with a wall time shorter than its work checkpoints ahead of it on the signal, is requeued and resumed until it finishes, bit-identical.', async (t) => {
  // About 75 s of work in 50 ms sleeps: more than any one allocation gives before its signal.
  const args = { steps: 1500, stepMs: 50 };
  const expected = uninterruptedResult(CLUSTER_JOB, args);
  const slurm = await startSlurm(t);
  const cwd = tempDir(t, 'slurm-job');
  fs.chmodSync(cwd, 0o755);
  const store = path.join(cwd, 'store');
  const script = await makeScript(cwd, [CLUSTER_JOB, '--store', store, '--args', JSON.stringify(args), '--interval', '3600', ...TIME]);
  const text = fs.readFileSync(script, 'utf8');
  t.regex(text, /^#SBATCH --signal=B:USR1@50$/m);
  t.regex(text, /^#SBATCH --requeue$/m);
  const id = await slurm.sbatch(script);
  // Bounded below ava's own timeout, so that a hang fails here with the logs.
  const end = await slurmEnd(slurm, id, HANG_GUARD_MS);
  const log = fs.readFileSync(path.join(cwd, `cr-cr-cluster-job-${id}.out`), 'utf8');
  const describe = `${log}\n${slurm.logs()}`;
  t.is(end.JobState, 'COMPLETED', describe);
  t.is(end.ExitCode, '0:0', describe);
  const restarts = Number(end.Restarts);
  t.true(restarts >= 1, `requeued ${restarts} times\n${describe}`);
  // Each allocation says its attempt; each but the last requeued: after a checkpoint, or (when
  // Slurm sent USR1 at the very start of a requeued job) killed by it before cr listened.
  for (let attempt = 1; attempt <= restarts + 1; attempt++) t.regex(log, new RegExp(`^\\[cr\\] slurm job ${id} attempt ${attempt} \\(SLURM_RESTART_COUNT=${attempt - 1}\\)`, 'm'), describe);
  const count = (re: RegExp): number => log.match(re)?.length ?? 0;
  const stops = count(/^\[cr\] checkpointed and stopped ahead of the wall time: requeueing slurm job/gm);
  const early = count(/^\[cr\] the signal came before cr was listening for it: requeueing slurm job/gm);
  t.true(stops >= 1, describe);
  t.is(stops + early, restarts, describe);
  // The script passes Slurm's USR1 on to cr as TERM.
  t.is(count(/^SIGTERM: checkpointing "cluster-job" at its next safe point, then stopping/gm), stops, describe);
  const resumed = count(/^resuming "cluster-job" from image /gm);
  t.true(resumed >= 1 && resumed <= restarts, describe);
  const result = /^\{\n[\s\S]*?^\}$/m.exec(log)?.[0];
  t.truthy(result, describe);
  t.deepEqual(JSON.parse(result!), await expected);
});

slurmTest("A pilot agent is drained when Slurm signals its batch shell (as --signal=B:USR1 does ahead of the wall time): its job checkpoints and moves to another agent, and the pilot exits 0.", async (t) => {
  const args = { steps: 1500, stepMs: 50 };
  const expected = uninterruptedResult(CLUSTER_JOB, args);
  const slurm = await startSlurm(t);
  const scheduler = await startScheduler(t);
  const cluster = client(t, scheduler.address);
  const cwd = tempDir(t, 'slurm-pilot');
  fs.chmodSync(cwd, 0o755);
  const tokenFile = path.join(cwd, 'agent.token');
  fs.writeFileSync(tokenFile, await createToken(scheduler.address, 'agent'), { mode: 0o600 });
  // A wall time that never comes: the test sends the signal once the job runs on the pilot, so
  // that it neither comes before the job starts there nor after the job has finished.
  const script = await makeScript(cwd, ['--agent', '--scheduler', scheduler.address, '--token-file', tokenFile, '--slots', '1', '--time', '30', '--signal-lead', '50']);
  t.regex(fs.readFileSync(script, 'utf8'), /--drain-timeout 50 /);
  const id = await slurm.sbatch(script);
  const pilot = `${slurm.node}-slurm${id}`;
  await waitFor('the pilot to register', async () => ((await cluster.call('ListNodes', {})).nodes.some((n) => n.name === pilot && n.state === 'alive') ? true : undefined), HANG_GUARD_MS, 250);
  const jobId = await submit(t, scheduler.address, CLUSTER_JOB, args, ['--interval', '3600']);
  const first = await underWay(cluster, jobId, 0);
  t.is(first.node, pilot);
  // The other agent joins only now, so the job started on the pilot.
  await startAgent(t, scheduler.address, 'outside');
  await slurm.signalBatch(id, 'USR1');
  const end = await slurmEnd(slurm, id, HANG_GUARD_MS);
  const log = fs.readFileSync(path.join(cwd, `cr-cr-agent-${id}.out`), 'utf8');
  const describe = `${log}\n${slurm.logs()}`;
  t.is(end.JobState, 'COMPLETED', describe);
  t.is(end.ExitCode, '0:0', describe);
  t.regex(log, /SIGTERM: draining node .*: 1 job will checkpoint and move to other nodes/, describe);
  t.regex(log, /drained: every job was handed back to the scheduler; exiting/, describe);
  t.regex(log, /^\[cr\] pilot: the agent exited with status 0$/m, describe);
  const done = await finished(cluster, jobId);
  t.is(done.state, 'succeeded', done.errorJson);
  t.deepEqual(JSON.parse(done.resultJson), await expected);
  t.is(done.moves, 1);
  t.is(done.node, '');
  const { lines } = await cluster.call('GetLogs', { job: jobId, after: 0 });
  t.true(lines.some((l) => l.text === 'attempt 2 placed on node outside'), lines.map((l) => l.text).join('\n'));
  t.true(lines.some((l) => l.attempt === 2 && /resumed from image 1\b/.test(l.text)), lines.map((l) => l.text).join('\n'));
});
