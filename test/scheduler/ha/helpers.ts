// What the failover tests share: three `serve` processes on one data directory (one leads, the
// others stand by) and one database: the directory's SQLite file, or with CR_TEST_DB=postgres a
// database on a real PostgreSQL (images still go over gRPC into the shared directory); agents
// given all three addresses, a client that follows the leader as the CLI does, and the check
// every test ends with: each job succeeded exactly once, with the result of an uninterrupted run.
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { followCall, SchedulerSet } from '../../../scheduler/leader-follow.js';
import type { UnaryRpcs } from '../../../scheduler/proto/load.js';
import { type CliProcess, HANG_GUARD_MS, startCli, tempDir, uninterruptedResult } from '../../runner/helpers.js';
import { CLUSTER_JOB, freePort, waitFor } from '../helpers.js';
import { postgresProblem, TEST_DB, testDbUrl } from '../server/postgres.js';

/** Nodes' and the leader's lease: short enough that a failover is quick, long enough that a loaded machine does not lose leases for nothing. */
export const HA_LEASE_S = 4;

export interface Ha {
  dataDir: string;
  /** host:port of each scheduler, by index. */
  addresses: string[];
  /** The addresses as --scheduler takes them. */
  joined: string;
  schedulers: (CliProcess | null)[];
  agents: Map<string, CliProcess>;
  token: string;
  /** Starts scheduler `i` (again) on its port and data directory. */
  startScheduler(i: number): Promise<void>;
  startAgent(name: string, slots?: number): Promise<CliProcess>;
  /** A call that follows the leader, as the CLI's do; waits for a leader while a failover is under way. */
  call<K extends keyof UnaryRpcs>(method: K, request: UnaryRpcs[K][0]): Promise<UnaryRpcs[K][1]>;
  /** The index of the scheduler that leads now (the one that carries out a write). */
  leader(): Promise<number>;
}

/** Three schedulers on one data directory and database, and agents of one slot each. */
export async function startHa(t: ExecutionContext, agents: string[], leaseS = HA_LEASE_S): Promise<Ha> {
  const dataDir = tempDir(t, 'ha-data');
  const url = await testDbUrl(t);
  const ports = await Promise.all([0, 1, 2].map(() => freePort()));
  const addresses = ports.map((p) => `127.0.0.1:${p}`);
  const schedulers: (CliProcess | null)[] = [null, null, null];
  const startScheduler = async (i: number): Promise<void> => {
    const cli = startCli(t, ['serve', '--data', dataDir, '--port', String(ports[i]), '--lease-timeout', String(leaseS), '--leader-lease', String(leaseS), '--no-local-agent', ...(url === null ? [] : ['--db', url])]);
    schedulers[i] = cli;
    await cli.waitUntil(() => /listening on /.test(cli.stdout), `scheduler ${i} to listen`);
  };
  // The first makes the database and the token files; the others join it.
  for (let i = 0; i < 3; i++) await startScheduler(i);
  const token = fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
  const set = new SchedulerSet(addresses, { token });
  t.teardown(() => set.close());
  const call = <K extends keyof UnaryRpcs>(method: K, request: UnaryRpcs[K][0]): Promise<UnaryRpcs[K][1]> =>
    followCall(set, method, request, { deadlineMs: 30_000, leaderWaitMs: HANG_GUARD_MS, roundPauseMs: 50 });
  const ha: Ha = {
    dataDir,
    addresses,
    joined: addresses.join(','),
    schedulers,
    agents: new Map(),
    token,
    startScheduler,
    async startAgent(name, slots = 1) {
      // A token is bound to the first node that uses it: one per agent name, kept across its restarts.
      tokens.set(name, tokens.get(name) ?? (await call('CreateToken', { role: 'agent', ttlS: 3600, label: name })).token);
      const cli = startCli(t, ['agent', '--scheduler', ha.joined, '--name', name, '--slots', String(slots), '--work', tempDir(t, `ha-${name}`)], { CR_TOKEN: tokens.get(name)! });
      ha.agents.set(name, cli);
      await cli.waitForStderr(/registered with the scheduler/);
      return cli;
    },
    call,
    async leader() {
      // A token made and left unused: a write only the leader carries out. One that a scheduler
      // may have taken before it went silent is not sent again by followCall: ask anew.
      for (;;) {
        try {
          await call('CreateToken', { role: 'user', ttlS: 60, label: 'who leads' });
          return addresses.indexOf(set.current);
        } catch (err) {
          if ((err as { code?: unknown }).code !== 'CR_SCHEDULER_LOST') throw err;
        }
      }
    },
  };
  const tokens = new Map<string, string>();
  for (const name of agents) await ha.startAgent(name);
  return ha;
}

/**
 * Each job succeeded exactly once (one "succeeded" event) and its result equals an uninterrupted
 * run's with the same args: no job lost, none run twice, every result bit-identical.
 */
export async function assertExactlyOnce(t: ExecutionContext, ha: Ha, jobs: { id: number; args: unknown }[]): Promise<void> {
  for (const { id, args } of jobs) {
    const job = await waitFor(`job ${id} to end`, async () => {
      const j = await ha.call('GetJob', { job: id });
      return j.state === 'queued' || j.state === 'running' ? undefined : j;
    });
    t.is(job.state, 'succeeded', `job ${id}: ${job.errorJson}`);
    t.deepEqual(JSON.parse(job.resultJson), await uninterruptedResult(CLUSTER_JOB, args), `job ${id}'s result`);
    const { lines } = await ha.call('GetLogs', { job: id, after: 0 });
    t.is(lines.filter((l) => l.kind === 'event' && l.text.startsWith('succeeded')).length, 1, `job ${id} succeeded exactly once`);
  }
}

/**
 * Why the failover tests cannot run here (PostgreSQL missing when it is the test database), or
 * null; and the suffix of their titles that names the database.
 */
export const haProblem: string | null = TEST_DB === 'postgres' ? postgresProblem() : null;
export const haBackend = TEST_DB === 'postgres' ? ' [PostgreSQL]' : '';
