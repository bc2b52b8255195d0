// The scheduler's database, behind one typed query builder (Kysely) for both engines:
// - SQLite (the default): one file under the data directory, in WAL mode, through better-sqlite3.
//   synchronous=NORMAL: a commit reaches the WAL file in the OS's cache and is fsynced at WAL
//   checkpoints, not per transaction; per-transaction fsyncs (FULL) made the scheduler wait on
//   the disk for every progress report. The cost is that a power cut of the scheduler's machine
//   can undo its last transactions (docs/operations.md).
// - PostgreSQL (`serve --db postgres://…`), through pg: the system of record that several
//   schedulers share (docs/high-availability.md).
// Every state change is one transaction (`write`), committed before the reply that reports it,
// so a scheduler killed at any instant restarts with everything it acknowledged; and each
// begins with the leader's fencing check (leadership.ts), inside the transaction.
import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, sql, SqliteDialect, type RawBuilder } from 'kysely';
import { Migrator } from 'kysely/migration';
import { migrations, type Dialect } from './migrations.js';
import type { Schema } from './schema.js';
import { keepingStatements } from './sqlite-statements.js';

export const DB_FILE = 'scheduler.db';
/** Waits for another process's write lock on the SQLite file (several schedulers on one data directory), ms. */
const SQLITE_BUSY_TIMEOUT_MS = 5000;

/** The database could not be opened or brought to this scheduler's schema: the scheduler does not start. */
export class DatabaseError extends Error {
  readonly code = 'CR_DB';
}

/** The data directory is one that others could plant or swap files in: the scheduler does not start. */
export class DataDirError extends Error {
  readonly code = 'CR_DATA_DIR_UNSAFE';
}

/**
 * The data directory holds job code, args, results, the image key and the CA key: it is created
 * 0700 (a missing parent too), and one that group or others can write is refused (they could
 * replace the database or plant a key). Returns a warning when others can read or enter it.
 */
export function checkDataDir(dataDir: string): string | null {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const st = fs.statSync(dataDir);
  const shown = path.resolve(dataDir);
  if (!st.isDirectory()) throw new DataDirError(`the data directory ${shown} is not a directory`);
  if ((st.mode & 0o022) !== 0) {
    throw new DataDirError(
      `the data directory ${shown} can be written by ${st.mode & 0o020 ? 'its group' : ''}${(st.mode & 0o022) === 0o022 ? ' and ' : ''}${st.mode & 0o002 ? 'others' : ''} (mode ${(st.mode & 0o777).toString(8)}): ` +
        `they could replace the scheduler's database or keys. Fix it with "chmod 700 ${shown}" (and check who owns it), then start again`,
    );
  }
  return (st.mode & 0o077) !== 0 ? `the data directory ${shown} can be read by other users (mode ${(st.mode & 0o777).toString(8)}): "chmod 700 ${shown}" keeps job code, args and results private` : null;
}

/** Checks a transaction may change state (the leader's epoch); throws when it may not. */
export type Fence = (q: Kysely<Schema>) => Promise<void>;

/** Rows per statement of a batched write or read: well under either database's limit on bound values. */
export const BATCH_ROWS = 500;

/** `items` in slices of BATCH_ROWS. */
export function batches<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += BATCH_ROWS) out.push(items.slice(i, i + BATCH_ROWS));
  return out;
}

export class Db {
  readonly dialect: Dialect;
  /** Where it is, for messages: the SQLite file or the PostgreSQL URL without its password. */
  readonly where: string;
  readonly #root: Kysely<Schema>;
  /** The transaction the current async context runs in, if any. */
  readonly #tx = new AsyncLocalStorage<Kysely<Schema>>();
  #fence: Fence | null = null;

  constructor(root: Kysely<Schema>, dialect: Dialect, where: string) {
    this.#root = root;
    this.dialect = dialect;
    this.where = where;
  }

  /** The query builder: the current transaction's inside `write`, else the database's. */
  get q(): Kysely<Schema> {
    return this.#tx.getStore() ?? this.#root;
  }

  /** The database's own clock, ms since the epoch (never a host's: leadership.ts). */
  get nowMs(): RawBuilder<number> {
    return this.dialect === 'postgres' ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::double precision` : sql<number>`((julianday('now') - 2440587.5) * 86400000.0)`;
  }

  /** Set once by leadership.ts: every `write` runs it first. */
  setFence(fence: Fence | null): void {
    this.#fence = fence;
  }

  /**
   * Runs `fn` in one transaction that starts with the fence; its queries use `db.q`. Inside
   * another `write` it joins that one. SQLite's is BEGIN IMMEDIATE: the file's write lock is
   * taken before the fence reads, so that another scheduler on the same file cannot take the
   * lead between the check and the writes (and a read never has to be upgraded, which SQLite
   * refuses under contention).
   */
  write<T>(fn: () => Promise<T>): Promise<T> {
    return this.#transaction(true, fn);
  }

  /** `write` without the fence: the leader's own lease (leadership.ts). */
  unfenced<T>(fn: () => Promise<T>): Promise<T> {
    return this.#transaction(false, fn);
  }

  async #transaction<T>(fenced: boolean, fn: () => Promise<T>): Promise<T> {
    if (this.#tx.getStore() !== undefined) return fn();
    return this.#root.connection().execute(async (conn) => {
      await sql.raw(this.dialect === 'sqlite' ? 'BEGIN IMMEDIATE' : 'BEGIN').execute(conn);
      try {
        const result = await this.#tx.run(conn, async () => {
          if (fenced) await this.#fence?.(conn);
          return fn();
        });
        await sql.raw('COMMIT').execute(conn);
        return result;
      } catch (err) {
        await sql.raw('ROLLBACK').execute(conn).catch(() => undefined);
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    await this.#root.destroy();
  }
}

/** Sets a `meta` value, in a write. */
export async function setMeta(db: Db, key: string, value: string): Promise<void> {
  await db.write(() =>
    db.q
      .insertInto('meta')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute(),
  );
}

export interface OpenDbOptions {
  /** The data directory: the SQLite file's home (and images, keys) whatever the database. */
  dataDir: string;
  /** A postgres:// URL; null or absent: SQLite under `dataDir`. */
  url?: string | null;
  /**
   * PostgreSQL ends a session of this scheduler that sits inside a transaction for this long
   * without sending its next statement (the leader's lease; default: none). A scheduler paused
   * mid-transaction (SIGSTOP, a VM frozen, a network cut) holds the fence's lock on the lead's
   * row (leadership.ts), and no standby could take the lead until it resumed.
   */
  idleInTransactionMs?: number;
}

/** The URL without its password, for messages and logs. */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(a URL that does not parse)';
  }
}

/** Opens the database and runs the migrations it lacks (migrations.ts). */
export async function openDb(options: OpenDbOptions | string): Promise<Db> {
  const { dataDir, url = null, idleInTransactionMs } = typeof options === 'string' ? { dataDir: options } : options;
  checkDataDir(dataDir);
  let db: Db;
  if (url === null || url === '') {
    // Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the database
    // file's mode, so all three are private from their creation on.
    const file = path.join(dataDir, DB_FILE);
    fs.closeSync(fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600));
    const sqlite = new Database(file, { timeout: SQLITE_BUSY_TIMEOUT_MS });
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    db = new Db(new Kysely<Schema>({ dialect: new SqliteDialect({ database: keepingStatements(sqlite) }) }), 'sqlite', file);
  } else {
    if (!/^postgres(ql)?:\/\//.test(url)) throw new DatabaseError(`--db ${shownUrl(url)} is not a postgres:// URL (without --db the scheduler keeps its database in <data>/${DB_FILE})`);
    // Loaded only here: a scheduler on SQLite never loads pg.
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({
      connectionString: url,
      ...(idleInTransactionMs === undefined ? {} : { idle_in_transaction_session_timeout: Math.max(1, Math.round(idleInTransactionMs)) }),
      // COUNT, SUM and bigint columns arrive as numbers: every such value here is a count of
      // bytes, jobs or ms, far below 2^53.
      types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 20 || oid === 1700 ? Number : pg.types.getTypeParser(oid, format as 'text'))) as never },
    });
    // A client that loses its server (a restart, a failover, a transaction ended for being idle)
    // must not end the scheduler: idle, the pool drops it; in use, its next query fails instead.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => void client.on('error', () => undefined));
    db = new Db(new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) }), 'postgres', shownUrl(url));
  }
  try {
    await migrate(db);
  } catch (err) {
    await db.close().catch(() => undefined);
    if (err instanceof DatabaseError) throw err;
    throw new DatabaseError(`cannot open the scheduler database ${db.where}: ${(err as Error).message}`, { cause: err });
  }
  return db;
}

async function migrate(db: Db): Promise<void> {
  const migrator = new Migrator({ db: db.q, provider: { getMigrations: async () => migrations(db.dialect) } });
  // Two schedulers starting at once on one SQLite file can race to record the same migration
  // (PostgreSQL's migrations take a lock): the loser sees it done when it tries again.
  for (let attempt = 1; ; attempt++) {
    const { error } = await migrator.migrateToLatest();
    if (error === undefined) return;
    const message = (error as Error).message ?? String(error);
    if (/corrupted migrations/.test(message)) {
      throw new DatabaseError(`the scheduler database ${db.where} was brought to a newer schema by a newer cr-scheduler (${message}): use that one`);
    }
    if (attempt >= 3) throw error;
  }
}
