// `npm run test:chaos`: jobs on agents and schedulers sharing one data directory, while an
// agent or the leading scheduler is SIGKILLed every few seconds and started again. Passes when
// every job finished exactly once (one "succeeded" event) with the result of an uninterrupted
// run. Long and heavy, so not part of `npm test`.
//
// Flags (defaults in brackets): --jobs [100] --agents [4] --slots [1] --schedulers [3]
// --every-s [4] (a kill every that many seconds, until every job has ended) --lease-s [3] (nodes' and the leader's)
// --seed [time] --keep (keep the data directory and logs) --db [sqlite] (postgres: a PostgreSQL
// 15 started for the run, test/postgres/server.ts, holds the database instead of the data
// directory's SQLite file).
// With --schedulers 1 the scheduler is killed and restarted in place (no standby needed).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bundleJob } from '../../scheduler/bundle.js';
import { Cluster } from '../../scheduler/client.js';
import { followCall, SchedulerSet } from '../../scheduler/leader-follow.js';
import type { JobInfo__Output } from '../../scheduler/proto/types.js';
import { CLI, FIXTURES, freePort, seededRandom, uninterruptedResult } from '../runner/helpers.js';
import { postgresProblem, startPostgres, type PostgresServer } from '../postgres/server.js';

const JOB = path.join(FIXTURES, 'cluster-job.mjs');

const USAGE = `usage: npm run test:chaos -- [--jobs N] [--agents N] [--slots N] [--schedulers N] [--every-s S] [--lease-s S] [--seed N] [--db sqlite|postgres] [--keep]
  --jobs 100        jobs submitted at the start
  --agents 4        agents, each with --slots 1 slots
  --schedulers 3    schedulers on one data directory (1: killed and restarted in place)
  --every-s 4       a SIGKILL of an agent or the leader every that many seconds, until every job ended
  --lease-s 3       the nodes' and the leader's lease
  --seed N          replays a run's choice of victims (default: from the clock)
  --db sqlite       the schedulers' database: sqlite (a file in the shared data directory) or
                    postgres (a PostgreSQL 15 the run starts in a temp directory and removes)
  --keep            keep the data directory and logs (a PostgreSQL server is removed all the same)`;

const given: Record<string, string | boolean | undefined> = (() => {
  try {
    return parseArgs({
      options: Object.fromEntries([...['jobs', 'agents', 'slots', 'schedulers', 'every-s', 'lease-s', 'seed', 'db'].map((n) => [n, { type: 'string' as const }]), ['keep', { type: 'boolean' as const }], ['help', { type: 'boolean' as const }]]),
      strict: true,
    }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    console.error(`chaos: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
})();
if (given.help) {
  console.log(USAGE);
  process.exit(0);
}

function flag(name: string, fallback: number): number {
  const text = given[name];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (typeof text !== 'string' || !Number.isFinite(value) || value < 0) {
    console.error(`chaos: --${name} must be a non-negative number, not "${String(text)}"\n${USAGE}`);
    process.exit(2);
  }
  return value;
}

if (given.db !== undefined && given.db !== 'sqlite' && given.db !== 'postgres') {
  console.error(`chaos: --db must be sqlite or postgres, not "${String(given.db)}"\n${USAGE}`);
  process.exit(2);
}
if (given.db === 'postgres' && postgresProblem() !== null) {
  console.error(`chaos: --db postgres cannot run here: ${postgresProblem()}`);
  process.exit(2);
}

const options = {
  db: given.db === 'postgres' ? ('postgres' as const) : ('sqlite' as const),
  jobs: flag('jobs', 100),
  agents: flag('agents', 4),
  slots: flag('slots', 1),
  schedulers: flag('schedulers', 3),
  everyMs: flag('every-s', 4) * 1000,
  leaseS: flag('lease-s', 3),
  seed: flag('seed', Date.now() % 1_000_000),
  keep: given.keep === true,
};

/** A `cr-scheduler` process of the run, its output kept in a log file. */
class Proc {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<void>;

  constructor(args: string[], log: string, env: NodeJS.ProcessEnv = {}) {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CR_') || k === 'CR_NATIVE'));
    this.child = spawn(process.execPath, [CLI, ...args], { env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const file = fs.createWriteStream(log, { flags: 'a' });
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      stream.setEncoding('utf8').on('data', (c: string) => {
        this.output += c;
        file.write(c);
      });
    }
    this.exited = new Promise((resolve) => this.child.once('close', () => void file.end(resolve)));
  }

  async waitFor(pattern: RegExp, what: string, timeoutMs = 120_000): Promise<void> {
    const started = Date.now();
    while (!pattern.test(this.output)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`exited before ${what}:\n${this.output.slice(-2000)}`);
      if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-chaos-'));
  const data = path.join(dir, 'data');
  const random = seededRandom(options.seed);
  // The server outlives every kill: it is the database, not a machine of the cluster.
  const postgres: PostgresServer | null = options.db === 'postgres' ? await startPostgres() : null;
  const db = postgres === null ? [] : ['--db', await postgres.newDatabase()];
  console.log(`chaos: ${options.jobs} jobs, ${options.agents} agents × ${options.slots} slots, ${options.schedulers} schedulers on ${data} (${options.db === 'postgres' ? `PostgreSQL on 127.0.0.1:${postgres!.port}` : 'SQLite'}), a kill every ${options.everyMs / 1000} s until all have ended, seed ${options.seed}`);
  const ports = await Promise.all(Array.from({ length: options.schedulers }, () => freePort()));
  const addresses = ports.map((p) => `127.0.0.1:${p}`);
  const schedulers: (Proc | null)[] = addresses.map(() => null);
  const agents: (Proc | null)[] = Array.from({ length: options.agents }, () => null);
  const startScheduler = async (i: number): Promise<void> => {
    const lease = ['--lease-timeout', String(options.leaseS), ...(options.schedulers > 1 ? ['--leader-lease', String(options.leaseS)] : [])];
    const proc = new Proc(['serve', '--data', data, '--port', String(ports[i]), ...lease, '--no-local-agent', ...db], path.join(dir, `scheduler-${i}.log`));
    schedulers[i] = proc;
    await proc.waitFor(/listening on /, `scheduler ${i} to listen`);
  };
  // The first creates the database and the token files; the others join it.
  for (let i = 0; i < options.schedulers; i++) await startScheduler(i);
  const token = fs.readFileSync(path.join(data, 'admin.token'), 'utf8').trim();
  const cluster = new Cluster(addresses.join(','), { token });
  const set = new SchedulerSet(addresses, { token });
  // A token is bound to the first node that uses it: one per agent, kept across its restarts.
  const agentTokens: string[] = [];
  for (let i = 0; i < options.agents; i++) agentTokens.push((await cluster.call('CreateToken', { role: 'agent', ttlS: 86_400, label: `chaos a${i}` })).token);
  const startAgent = async (i: number): Promise<void> => {
    const proc = new Proc(['agent', '--scheduler', addresses.join(','), '--name', `a${i}`, '--slots', String(options.slots), '--work', path.join(dir, `agent-${i}`)], path.join(dir, `agent-${i}.log`), { CR_TOKEN: agentTokens[i]! });
    agents[i] = proc;
    await proc.waitFor(/registered with the scheduler/, `agent ${i} to register`);
  };
  await Promise.all(agents.map((_, i) => startAgent(i)));

  // Four kinds of job, each with its uninterrupted result, computed before the chaos.
  const argsOf = (i: number) => ({ steps: 150 + (i % 4) * 50, stepMs: 20 });
  const expected = new Map<string, unknown>();
  for (let k = 0; k < 4; k++) expected.set(JSON.stringify(argsOf(k)), await uninterruptedResult(JOB, argsOf(k)));
  const code = await bundleJob(JOB);
  const ids: number[] = [];
  for (let i = 0; i < options.jobs; i++) ids.push((await cluster.call('Submit', { name: `chaos-${i}`, code, argsJson: JSON.stringify(argsOf(i)), intervalMs: 500, retries: 20 })).id);

  const started = Date.now();
  const kills = { agents: 0, schedulers: 0 };
  let lastLine = 0;
  const allEnded = async (): Promise<boolean> => {
    const { jobs } = await cluster.call('ListJobs', { states: [], all: true });
    const ours = jobs.filter((j) => ids.includes(j.id));
    const line = `${Math.round((Date.now() - started) / 1000)} s: ${ours.filter((j) => j.state === 'succeeded').length}/${ids.length} succeeded, kills: ${kills.agents} agents, ${kills.schedulers} schedulers`;
    // On a terminal one line rewritten in place; in a pipe a line every 10 s.
    if (process.stdout.isTTY) process.stdout.write(`\r${line}   `);
    else if (Date.now() - lastLine >= 10_000) {
      lastLine = Date.now();
      console.log(line);
    }
    return ours.length === ids.length && ours.every((j) => ['succeeded', 'failed', 'cancelled'].includes(j.state));
  };
  let nextKill = Date.now() + options.everyMs;
  while (!(await allEnded().catch(() => false))) {
    if (Date.now() >= nextKill) {
      nextKill = Date.now() + options.everyMs;
      if (random() < 0.5) {
        const i = Math.floor(random() * options.agents);
        await agents[i]!.kill();
        kills.agents++;
        await startAgent(i);
      } else {
        // The leader: the scheduler that carries out a write (undoing a drain that is not there changes nothing).
        const leader = await followCall(set, 'Drain', { node: 'a0', undo: true }, { deadlineMs: 10_000, leaderWaitMs: 60_000 }).then(
          () => addresses.indexOf(set.current),
          () => -1,
        );
        if (leader >= 0) {
          await schedulers[leader]!.kill();
          kills.schedulers++;
          await startScheduler(leader);
        }
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const seconds = Math.round((Date.now() - started) / 1000);
  if (process.stdout.isTTY) console.log('');

  // Every job: succeeded once, with the uninterrupted result.
  const problems: string[] = [];
  for (const id of ids) {
    const job: JobInfo__Output = await cluster.call('GetJob', { job: id });
    const { lines } = await cluster.call('GetLogs', { job: id, after: 0 });
    const succeeded = lines.filter((l) => l.kind === 'event' && l.text.startsWith('succeeded')).length;
    if (job.state !== 'succeeded') problems.push(`job ${id}: ${job.state} ${job.errorJson}`);
    else if (succeeded !== 1) problems.push(`job ${id}: succeeded ${succeeded} times`);
    else {
      const want = expected.get(JSON.stringify(argsOf(ids.indexOf(id))));
      if (JSON.stringify(JSON.parse(job.resultJson)) !== JSON.stringify(want)) problems.push(`job ${id}: result ${job.resultJson}, uninterrupted ${JSON.stringify(want)}`);
    }
  }
  console.log(`chaos: ${ids.length - problems.length}/${ids.length} jobs finished exactly once with their uninterrupted result in ${seconds} s; ${kills.agents} agent and ${kills.schedulers} scheduler SIGKILLs (seed ${options.seed})`);
  for (const p of problems) console.log(`  ${p}`);
  cluster.close();
  set.close();
  await Promise.all([...agents, ...schedulers].map((p) => p?.kill()));
  await postgres?.stop();
  if (options.keep || problems.length > 0) console.log(`logs and data kept in ${dir}`);
  else fs.rmSync(dir, { recursive: true, force: true });
  process.exitCode = problems.length === 0 ? 0 : 1;
}

await main();
