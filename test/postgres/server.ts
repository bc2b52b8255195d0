// A real PostgreSQL 15 for tests and the chaos run: a cluster in a temp directory (initdb, then
// postgres on a free loopback port, its socket in the temp directory). initdb refuses root: as
// root both run as the `postgres` user. Without ava, so that test/chaos/chaos.ts can use it too;
// test/scheduler/server/postgres.ts ties it to a test file's lifetime.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

const BIN = process.env.CR_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';
/** How long the server may take to accept connections (a hang guard, not a timing assumption). */
const START_BOUND_MS = 120_000;

/** Why PostgreSQL cannot be started here, or null when it can. */
export function postgresProblem(): string | null {
  if (!fs.existsSync(path.join(BIN, 'initdb')) || !fs.existsSync(path.join(BIN, 'postgres'))) {
    return `PostgreSQL 15 is not installed (no ${BIN}/initdb): apt-get install postgresql-15`;
  }
  if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'postgres']).status !== 0) return 'running as root without a postgres user to run PostgreSQL as: apt-get install postgresql-15 creates it';
  return null;
}

export interface PostgresServer {
  port: number;
  /** The temp directory that holds the cluster and its socket. */
  dir: string;
  child: ChildProcess;
  /** The URL of a new, empty database on this server. */
  newDatabase(): Promise<string>;
  /** Stops the server (fast shutdown) and removes its directory. */
  stop(): Promise<void>;
}

function asPostgres(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

// The postmaster itself, not runuser, gets the signal.
function signalPostmaster(dir: string, signal: NodeJS.Signals): void {
  try {
    process.kill(Number(fs.readFileSync(path.join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]), signal);
  } catch {
    // already gone
  }
}

/** Starts a new server; it is also killed and removed if this process exits first. */
export async function startPostgres(): Promise<PostgresServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-pg-'));
  fs.chmodSync(dir, 0o755);
  if (process.getuid?.() === 0) spawnSync('chown', ['postgres:postgres', dir]);
  const data = path.join(dir, 'data');
  const [cmd, args] = asPostgres(path.join(BIN, 'initdb'), ['-D', data, '-U', 'cr', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  const init = spawnSync(cmd, args, { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const port = await freePort();
  const [pcmd, pargs] = asPostgres(path.join(BIN, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=200']);
  const child = spawn(pcmd, pargs, { stdio: ['ignore', 'ignore', 'pipe'] });
  const onExit = (): void => {
    signalPostmaster(dir, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited (${child.exitCode}): ${stderr}`);
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'cr', database: 'postgres' });
    try {
      await client.connect();
      await client.end();
      break;
    } catch {
      await client.end().catch(() => undefined);
      if (Date.now() - started > START_BOUND_MS) throw new Error(`postgres did not accept connections: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  let databases = 0;
  return {
    port,
    dir,
    child,
    async newDatabase() {
      const name = `t${process.pid}_${++databases}`;
      const admin = new pg.Client({ host: '127.0.0.1', port, user: 'cr', database: 'postgres' });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      return `postgres://cr@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      signalPostmaster(dir, 'SIGINT');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
      fs.rmSync(dir, { recursive: true, force: true });
      process.removeListener('exit', onExit);
    },
  };
}
