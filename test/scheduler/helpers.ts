// What the cluster tests share: a real scheduler and real agents as separate processes on
// loopback (so SIGKILL and SIGSTOP hit everything a node runs), each killed in the test's
// teardown, and a gRPC client to watch the jobs.
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { Cluster } from '../../scheduler/client.js';
import { openDb, type Db } from '../../scheduler/server/db.js';
import type { JobInfo__Output } from '../../scheduler/proto/types.js';
import { CliProcess, FIXTURES, freePort, HANG_GUARD_MS, startCli, tempDir, sleep } from '../runner/helpers.js';

export { freePort };
import { testDbOfDataDir } from './server/postgres.js';

export const CLUSTER_JOB = path.join(FIXTURES, 'cluster-job.mjs');
/**
 * Short leases keep the tests quick (agents heartbeat four times per lease), but not so short
 * that an agent starved of CPU on a loaded machine misses one and its jobs move for no reason.
 */
export const TEST_LEASE_S = 3;
/**
 * For tests in which no node should die: far longer than the gaps a starved agent's heartbeats
 * show on two loaded cores (3 s leases expired there, moving jobs and adding attempts and images).
 */
export const STEADY_LEASE_S = 120;

export interface SchedulerProcess {
  cli: CliProcess;
  address: string;
  port: number;
  dataDir: string;
  /** The admin token the scheduler wrote for this machine's CLI (a path: safe on a command line). */
  tokenFile: string;
  /** ['--scheduler', address, '--token-file', tokenFile]: what a CLI call to it needs. */
  args: string[];
}

/** Admin tokens of the schedulers the tests started, by address: helpers authenticate with them. */
const adminTokens = new Map<string, string>();

export function adminToken(address: string): string {
  const token = adminTokens.get(address);
  if (token === undefined) throw new Error(`no scheduler was started at ${address} by this test file`);
  return token;
}

export async function startScheduler(
  t: ExecutionContext,
  options: { dataDir?: string; port?: number; leaseS?: number; localAgent?: boolean; extra?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<SchedulerProcess> {
  const dataDir = options.dataDir ?? tempDir(t, 'scheduler');
  const args = ['serve', '--port', String(options.port ?? 0), '--data', dataDir, '--lease-timeout', String(options.leaseS ?? TEST_LEASE_S), ...(options.extra ?? [])];
  // The test database (CR_TEST_DB), unless the test names one itself.
  const db = args.includes('--db') ? null : await testDbOfDataDir(t, dataDir);
  if (db !== null) args.push('--db', db);
  if (options.localAgent !== true) args.push('--no-local-agent');
  const cli = startCli(t, args, options.env);
  keepLog(t, 'scheduler', cli);
  let match: RegExpExecArray | null = null;
  await cli.waitUntil(() => (match = /listening on (\S+):(\d+)\n/.exec(cli.stdout)) !== null, 'the scheduler to listen');
  const m = match as unknown as RegExpExecArray;
  const address = `${m[1]}:${m[2]}`;
  const tokenFile = path.join(dataDir, 'admin.token');
  adminTokens.set(address, fs.readFileSync(tokenFile, 'utf8').trim());
  return { cli, address, port: Number(m[2]), dataDir, tokenFile, args: ['--scheduler', address, '--token-file', tokenFile] };
}

/**
 * The database of a scheduler the test started, SQLite or PostgreSQL as the run is (CR_TEST_DB),
 * for planting rows that no RPC makes; closed in the test's teardown.
 */
export async function schedulerDb(t: ExecutionContext, scheduler: SchedulerProcess): Promise<Db> {
  const db = await openDb({ dataDir: scheduler.dataDir, url: await testDbOfDataDir(t, scheduler.dataDir) });
  t.teardown(() => db.close());
  return db;
}

/** A new token of `role` from the scheduler at `address`, made with its admin token. */
export async function createToken(address: string, role: 'agent' | 'user' | 'admin', ttlS = 3600): Promise<string> {
  const admin = new Cluster(address, { token: adminToken(address) });
  try {
    return (await admin.call('CreateToken', { role, ttlS, label: 'test' })).token;
  } finally {
    admin.close();
  }
}

/** An agent process; it authenticates with a fresh agent token passed in its environment (never its command line). */
export async function startAgent(t: ExecutionContext, address: string, name: string, slots = 1, extra: string[] = []): Promise<CliProcess> {
  const work = tempDir(t, `agent-${name}`);
  const cli = startCli(t, ['agent', '--scheduler', address, '--name', name, '--slots', String(slots), '--work', work, ...extra], { CR_TOKEN: await createToken(address, 'agent') });
  keepLog(t, `agent-${name}`, cli);
  await cli.waitForStderr(/registered with the scheduler/);
  return cli;
}

/** With CR_TEST_LOGS=DIR, each process's output is kept there when the test ends, to see why one failed. */
function keepLog(t: ExecutionContext, label: string, cli: CliProcess): void {
  const dir = process.env.CR_TEST_LOGS;
  if (!dir) return;
  t.teardown(() => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${t.title.slice(0, 40).replace(/\W+/g, '_')}-${label}-${cli.child.pid}.log`), cli.describe());
  });
}

/** A client to the scheduler for the test's own checks (admin by default), closed in teardown. */
export function client(t: ExecutionContext, address: string, token = adminToken(address)): Cluster {
  const cluster = new Cluster(address, { token });
  t.teardown(() => cluster.close());
  return cluster;
}

/** Polls `fn` until it returns a value that is not undefined; fails after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = HANG_GUARD_MS, pollMs = 100): Promise<T> {
  const started = Date.now();
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err; // the scheduler may be restarting
    }
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    await sleep(pollMs);
  }
}

export function job(cluster: Cluster, id: number): Promise<JobInfo__Output> {
  return cluster.call('GetJob', { job: id });
}

/** Waits until the job runs and has done more than `progress` of its work; returns it. */
export function underWay(cluster: Cluster, id: number, progress = 0.2): Promise<JobInfo__Output> {
  return waitFor('the job to be under way', async () => {
    const j = await job(cluster, id);
    return j.state === 'running' && j.progress > progress ? j : undefined;
  });
}

/** Waits until the job ends; returns it. */
export function finished(cluster: Cluster, id: number, timeoutMs = HANG_GUARD_MS): Promise<JobInfo__Output> {
  return waitFor(`job ${id} to end`, async () => {
    const j = await job(cluster, id);
    return j.state === 'succeeded' || j.state === 'failed' || j.state === 'cancelled' ? j : undefined;
  }, timeoutMs);
}

/** Submits through the CLI, as a user would; returns the job id. */
export async function submit(t: ExecutionContext, address: string, file: string, args: unknown, extra: string[] = []): Promise<number> {
  const run = await startCli(t, ['submit', file, '--scheduler', address, '--args', JSON.stringify(args), ...extra], { CR_TOKEN: adminToken(address) }).exit;
  if (run.code !== 0) throw new Error(`submit failed: ${run.stderr}`);
  return Number(run.stdout.trim());
}

