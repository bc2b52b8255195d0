// `npm run bench -- --ha`, the database lines: placement and the CLI's reads on SQLite and on
// PostgreSQL, side by side, against a real scheduler process. A burst: JOBS jobs are queued
// (submitted over gRPC while no node is connected), then NODES bench nodes (lightweight: a
// Connect stream and heartbeats from this process, as bench/cluster.ts's) connect at once, and
// the figure is the time from the first connect until every job's assignment has arrived.
// Then the database is filled to TOTAL jobs (the placed ones finished but a few per node, the
// rest copies of them made in SQL, as a long-lived cluster's history) and `list` (ListJobs: the
// caller's newest jobs, as `cr-scheduler list` asks), `status` (ListJobs of the queued and
// running jobs) and `status JOB` (GetJob) are timed; p99 of READS calls each. Targets: placement
// ≥ 1 000 jobs/s, every p99 < 100 ms. PostgreSQL is started here (test/postgres/server.ts, with
// fsync off as in the tests); without it the row says how to get it.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { DEFAULT_LIST_LIMIT } from '../scheduler/commands/list.js';
import { schedulerClient, unary, type SchedulerClient } from '../scheduler/proto/load.js';
import type { Assignment__Output, Command__Output } from '../scheduler/proto/types.js';
import { postgresProblem, startPostgres, type PostgresServer } from '../test/postgres/server.js';
import { processCpuMs } from './process-cpu.js';

const CLI = fileURLToPath(new URL('../scheduler/cli.js', import.meta.url));
const NODES = 50;
const READS = 200;
/** Deadline of each call: a hang guard on a loaded machine, not a target. */
const CALL_DEADLINE_MS = 300_000;
/** Jobs left running on each node when the rest finish: what `status` lists. */
const KEEP_RUNNING = 4;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

interface Figures {
  placeMs: number;
  jobs: number;
  total: number;
  listP99: number;
  listShown: number;
  statusP99: number;
  statusShown: number;
  getP99: number;
  /** The scheduler's CPU time per call of list, status and status JOB. */
  cpuMs: number[];
}

/** A node run by the bench: it connects, heartbeats, and collects its assignments. */
function benchNode(client: SchedulerClient, name: string, slots: number, onAssign: (a: Assignment__Output) => void): () => void {
  const call = client.Connect({ node: name, slots, running: [], version: 'bench' });
  let heartbeat: NodeJS.Timeout | null = null;
  call.on('data', (c: Command__Output) => {
    if (c.command === 'registered') {
      const session = c.registered!.session;
      heartbeat = setInterval(() => void unary(client, 'Heartbeat', { node: name, session }).catch(() => undefined), c.registered!.heartbeatIntervalMs);
    } else if (c.command === 'assign') onAssign(c.assign!);
  });
  call.on('error', () => undefined);
  return () => {
    if (heartbeat) clearInterval(heartbeat);
    call.cancel();
  };
}

/** Runs `count` calls of `fn`, `parallel` at a time. */
async function inParallel(count: number, parallel: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < count) await fn(next++);
  }));
}

/** Doubles the jobs table (and its owners) by copies of finished jobs until it holds `total` rows. */
async function fill(exec: (sql: string) => Promise<void>, count: () => Promise<number>, total: number): Promise<void> {
  for (let have = await count(); have < total; have = await count()) {
    await exec(
      'INSERT INTO jobs (name, state, priority, retries, code_sha256, args_json, interval_ms, full_every, attempt, result_json, submitted_at, started_at, finished_at) ' +
        `SELECT name, 'succeeded', priority, retries, code_sha256, args_json, interval_ms, full_every, 1, '1', submitted_at, submitted_at, submitted_at FROM jobs ORDER BY id LIMIT ${Math.min(have, total - have)}`,
    );
    await exec("INSERT INTO job_owners (job, token, label) SELECT j.id, o.token, o.label FROM jobs j, (SELECT token, label FROM job_owners LIMIT 1) o WHERE j.id NOT IN (SELECT job FROM job_owners)");
  }
}

async function measure(dir: string, db: PostgresServer | null, jobs: number, total: number): Promise<Figures> {
  const data = path.join(dir, db ? 'data-pg' : 'data-sqlite');
  const url = db ? await db.newDatabase() : null;
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data', data, '--no-local-agent', '--lease-timeout', '60', ...(url ? ['--db', url] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const closers: (() => void)[] = [];
  let stage = 'placing';
  try {
    let address: string | null = null;
    while (address === null) {
      if (child.exitCode !== null) throw new Error(`serve exited: ${out}`);
      address = /listening on (\S+)\n/.exec(out)?.[1] ?? null;
      await sleep(10);
    }
    const admin = schedulerClient(address, { token: fs.readFileSync(path.join(data, 'admin.token'), 'utf8').trim() });
    closers.push(() => admin.close());
    const { token: userToken } = await unary(admin, 'CreateToken', { role: 'user', ttlS: 3600, label: 'bench-user' });
    const user = schedulerClient(address, { token: userToken });
    closers.push(() => user.close());
    const code = Buffer.from('export default async () => 1;');
    await inParallel(jobs, 16, (i) => unary(user, 'Submit', { name: `burst${i}`, code, argsJson: '{}', retries: 0 }, CALL_DEADLINE_MS));
    // On loopback an agent token is bound to the first node name it connects as: one per node.
    const agents: SchedulerClient[] = [];
    for (let n = 0; n < NODES; n++) {
      const { token } = await unary(admin, 'CreateToken', { role: 'agent', ttlS: 3600, label: `bench-${n}` });
      agents.push(schedulerClient(address, { token }));
      closers.push(() => agents[n]!.close());
    }
    const assigned: Assignment__Output[][] = agents.map(() => []);
    let got = 0;
    let t1 = 0;
    const t0 = performance.now();
    agents.forEach((client, n) =>
      closers.push(
        benchNode(client, `bench-${n}`, Math.ceil(jobs / NODES), (a) => {
          assigned[n]!.push(a);
          if (++got === jobs) t1 = performance.now();
        }),
      ),
    );
    while (got < jobs) {
      if (child.exitCode !== null) throw new Error(`serve exited: ${out}`);
      await sleep(2);
    }
    const placeMs = t1 - t0;
    stage = 'finishing the placed jobs';
    // The placed jobs end but a few per node, which `status` then lists.
    const finishing = assigned.flatMap((list, n) => list.slice(KEEP_RUNNING).map((a) => ({ a, n })));
    await inParallel(finishing.length, 16, (i) => {
      const { a, n } = finishing[i]!;
      return unary(agents[n]!, 'Finish', { job: a.job, attempt: a.attempt, secret: a.secret, outcome: 'SUCCEEDED', resultJson: '1' }, CALL_DEADLINE_MS);
    });
    stage = 'filling the database';
    if (url) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await fill(async (sql) => void (await client.query(sql)), async () => Number((await client.query('SELECT count(*) AS n FROM jobs')).rows[0].n), total);
        await client.query('ANALYZE');
      } finally {
        await client.end();
      }
    } else {
      const sqlite = new Database(path.join(data, 'scheduler.db'), { timeout: 60_000 });
      try {
        await fill(async (sql) => void sqlite.exec(sql), async () => (sqlite.prepare('SELECT count(*) AS n FROM jobs').get() as { n: number }).n, total);
      } finally {
        sqlite.close();
      }
    }
    // Each call's wall time, and the scheduler's CPU time over all of them: on a shared machine
    // the CPU time per call is the steadier figure.
    const cpu: number[] = [];
    const timed = async (fn: () => Promise<unknown>): Promise<number[]> => {
      const ms: number[] = [];
      await fn(); // warm
      const cpu0 = processCpuMs(child.pid!);
      for (let i = 0; i < READS; i++) {
        const t = performance.now();
        await fn();
        ms.push(performance.now() - t);
      }
      cpu.push((processCpuMs(child.pid!) - cpu0) / READS);
      return ms;
    };
    stage = 'timing list and status';
    let listShown = 0;
    let statusShown = 0;
    const list = await timed(async () => (listShown = (await unary(user, 'ListJobs', { states: [], all: false, limit: DEFAULT_LIST_LIMIT }, CALL_DEADLINE_MS)).jobs.length));
    const status = await timed(async () => (statusShown = (await unary(user, 'ListJobs', { states: ['queued', 'running'], all: false }, CALL_DEADLINE_MS)).jobs.length));
    let k = 0;
    const get = await timed(() => unary(user, 'GetJob', { job: 1 + ((k++ * 7919) % jobs) }, CALL_DEADLINE_MS));
    return { placeMs, jobs, total, listP99: percentile(list, 99), listShown, statusP99: percentile(status, 99), statusShown, getP99: percentile(get, 99), cpuMs: cpu };
  } catch (err) {
    throw new Error(`${stage}: ${(err as Error).message}; the scheduler said: ${out.slice(-2000)}`);
  } finally {
    for (const close of closers.reverse()) close();
    child.kill('SIGKILL');
  }
}

export async function benchPlacement(quick: boolean): Promise<void> {
  const jobs = quick ? 2_000 : 10_000;
  const total = quick ? 20_000 : 100_000;
  const dir = fs.mkdtempSync(path.join(process.env.CR_BENCH_DIR ?? os.tmpdir(), 'cr-bench-db-'));
  try {
    console.log(`\ncr bench --ha, the database: ${jobs} queued jobs placed onto ${NODES} nodes, then list/status p99 of ${READS} calls with ${total} jobs in the database (scheduler: a separate process; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
    const header = ['database', 'placement', 'list p99', 'status p99', 'status JOB p99'];
    const rows: string[][] = [];
    for (const kind of ['SQLite', 'PostgreSQL 15 (fsync off)'] as const) {
      let server: PostgresServer | null = null;
      const problem = kind === 'SQLite' ? null : postgresProblem();
      if (problem !== null) {
        rows.push([kind, `not run: ${problem}`, '', '', '']);
        continue;
      }
      try {
        if (kind !== 'SQLite') server = await startPostgres();
        const f = await measure(dir, server, jobs, total);
        const [listCpu, statusCpu, getCpu] = f.cpuMs.map((ms) => ms.toFixed(1));
        rows.push([kind, `${(f.jobs / (f.placeMs / 1000)).toFixed(0)} jobs/s (${(f.placeMs / 1000).toFixed(2)} s)`, `${f.listP99.toFixed(1)} ms, CPU ${listCpu} ms (${f.listShown} jobs)`, `${f.statusP99.toFixed(1)} ms, CPU ${statusCpu} ms (${f.statusShown} jobs)`, `${f.getP99.toFixed(1)} ms, CPU ${getCpu} ms`]);
      } finally {
        await server?.stop();
      }
    }
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
    const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
    console.log(line(header));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of rows) console.log(line(r));
    console.log("targets: placement ≥ 1000 jobs/s; each p99 < 100 ms. CPU: the scheduler process's CPU time per call.");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
