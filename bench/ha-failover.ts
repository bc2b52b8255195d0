// `npm run bench -- --ha` (this section): leader SIGKILL → a standby placing jobs again. Three
// `serve` processes on one data directory and two agents given all three addresses; a long job
// runs on one of them. The leader is SIGKILLed; from that moment a client that follows the
// leader (leader-follow.ts, as the CLI does) submits a tiny job, and the figure is the time
// until that job has been placed on an agent. Target: ≤ lease + 2 s. The running job must keep
// its attempt (it loses no work).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleJob } from '../scheduler/bundle.js';
import { followCall, SchedulerSet } from '../scheduler/leader-follow.js';
import { unary, type UnaryRpcs } from '../scheduler/proto/load.js';

const CLI = fileURLToPath(new URL('../scheduler/cli.js', import.meta.url));
const JOB = fileURLToPath(new URL('../../test/fixtures/cluster-job.mjs', import.meta.url));
const LEASE_S = 5;
const SCHEDULERS = 3;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; until: (re: RegExp) => Promise<RegExpExecArray> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const until = async (re: RegExp): Promise<RegExpExecArray> => {
    for (let m = re.exec(out); ; m = re.exec(out)) {
      if (m) return m;
      if (child.exitCode !== null) throw new Error(`cr-scheduler ${args[0]} exited: ${out}`);
      await sleep(10);
    }
  };
  return { child, until };
}

export async function benchHaFailover(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(process.env.CR_BENCH_DIR ?? os.tmpdir(), 'cr-bench-ha-'));
  const data = path.join(dir, 'data');
  const addresses: string[] = [];
  const children: ChildProcess[] = [];
  try {
    const schedulers = [];
    for (let i = 0; i < SCHEDULERS; i++) {
      const s = start(['serve', '--data', data, '--port', '0', '--lease-timeout', String(LEASE_S), '--leader-lease', String(LEASE_S), '--no-local-agent']);
      children.push(s.child);
      const listening = await s.until(/listening on (\S+)\n/).catch((err: Error) => err);
      if (listening instanceof Error) {
        console.log(`leader failover: skipped: serve did not start with --leader-lease (a build without standby schedulers?): ${listening.message.split('\n')[0]}`);
        return;
      }
      addresses.push(listening[1]!);
      schedulers.push(s);
    }
    const token = fs.readFileSync(path.join(data, 'admin.token'), 'utf8').trim();
    // Standby schedulers refuse writes: with more than one scheduler taking them, this build has no standbys.
    const takers = [];
    for (const address of addresses) {
      const set = new SchedulerSet([address], { token });
      try {
        await unary(set.client(), 'CreateToken', { role: 'user', ttlS: 60, label: 'standby probe' }, 30_000).then(
          () => takers.push(address),
          (err: { details?: string }) => (/standby/.test(err.details ?? '') ? undefined : takers.push(address)),
        );
      } finally {
        set.close();
      }
    }
    if (takers.length !== 1) {
      console.log(`leader failover: skipped: ${takers.length} of ${SCHEDULERS} schedulers on one data directory took a write; this build has no standby schedulers`);
      return;
    }
    const set = new SchedulerSet(addresses, { token });
    const call = <K extends keyof UnaryRpcs>(method: K, request: UnaryRpcs[K][0]): Promise<UnaryRpcs[K][1]> =>
      followCall(set, method, request, { deadlineMs: 10_000, leaderWaitMs: 120_000, roundPauseMs: 20 });
    try {
      for (const name of ['h1', 'h2']) {
        const { token: agentToken } = await call('CreateToken', { role: 'agent', ttlS: 3600, label: 'bench' });
        const a = start(['agent', '--scheduler', addresses.join(','), '--name', name, '--slots', '2', '--work', path.join(dir, `work-${name}`)], { CR_TOKEN: agentToken });
        children.push(a.child);
        await a.until(/registered with the scheduler/);
      }
      const code = await bundleJob(JOB);
      const tiny = Buffer.from('export default async () => 1;');
      // A long job with images, running while the leader dies.
      const { id: long } = await call('Submit', { name: 'long', code, argsJson: JSON.stringify({ steps: 100000, stepMs: 2 }), intervalMs: 500, retries: 0 });
      for (let j = await call('GetJob', { job: long }); j.state !== 'running' || j.images < 1; j = await call('GetJob', { job: long })) await sleep(50);
      // Warm: a tiny job placed and finished before the kill.
      const { id: warm } = await call('Submit', { name: 'warm', code: tiny, argsJson: '{}' });
      while ((await call('GetJob', { job: warm })).state !== 'succeeded') await sleep(20);
      // A write only the leader carries out: who leads now.
      await call('CreateToken', { role: 'user', ttlS: 60, label: 'who leads' });
      const leader = addresses.indexOf(set.current);
      const killed = performance.now();
      schedulers[leader]!.child.kill('SIGKILL');
      // A submit cut by the kill may or may not have been taken (CR_SCHEDULER_LOST): a tiny job, submitted again.
      let id = 0;
      while (id === 0) {
        id = await call('Submit', { name: 'after', code: tiny, argsJson: '{}' }).then(
          (j) => j.id,
          (err: { code?: unknown }) => {
            if (err.code !== 'CR_SCHEDULER_LOST') throw err;
            return 0;
          },
        );
      }
      const submitted = performance.now();
      let placed = 0;
      for (;;) {
        const j = await call('GetJob', { job: id });
        if (j.state !== 'queued') {
          placed = performance.now();
          break;
        }
        await sleep(10);
      }
      const kept = (await call('GetJob', { job: long })).attempt === 1;
      console.log(
        `leader failover: SIGKILL of the leader → a standby accepted a submit after ${((submitted - killed) / 1000).toFixed(2)} s, placed it on an agent after ` +
          `${((placed - killed) / 1000).toFixed(2)} s (leader lease ${LEASE_S} s; target ≤ ${LEASE_S + 2} s; all on one host, where a standby sees the dead leader's process gone and need not wait out its lease); the job running meanwhile ${kept ? 'kept its attempt (no work lost)' : 'was restarted (work lost)'}`,
      );
      await call('Cancel', { job: long });
    } finally {
      set.close();
    }
  } finally {
    for (const child of children) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
