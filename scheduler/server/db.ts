// The scheduler's embedded database: one SQLite file under the data directory, in WAL mode.
// Every state change is a transaction, committed before the reply that reports it, so a
// scheduler killed at any instant (SIGKILL, a crash) restarts with everything it acknowledged.
// synchronous=NORMAL: a commit reaches the WAL file in the OS's cache and is fsynced at WAL
// checkpoints, not per transaction; per-transaction fsyncs (FULL) made the scheduler wait on the
// disk for every progress report, and stall for seconds when the disk was busy. The cost is
// that a power cut of the scheduler's machine can undo its last transactions (docs/operations.md).
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export type Db = Database.Database;

export const DB_FILE = 'scheduler.db';
const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS code (sha256 TEXT PRIMARY KEY, bytes BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  priority INTEGER NOT NULL,
  retries INTEGER NOT NULL,
  retries_used INTEGER NOT NULL DEFAULT 0,
  moves INTEGER NOT NULL DEFAULT 0,
  code_sha256 TEXT NOT NULL REFERENCES code(sha256),
  args_json TEXT NOT NULL,
  interval_ms INTEGER NOT NULL,
  full_every INTEGER NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  node TEXT,
  pending TEXT,
  progress REAL NOT NULL DEFAULT 0,
  message TEXT NOT NULL DEFAULT '',
  result_json TEXT,
  error_json TEXT,
  not_before REAL NOT NULL DEFAULT 0,
  submitted_at REAL NOT NULL,
  started_at REAL,
  finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (state, priority DESC, id);
CREATE INDEX IF NOT EXISTS jobs_node ON jobs (node) WHERE node IS NOT NULL;
CREATE TABLE IF NOT EXISTS attempts (
  job INTEGER NOT NULL REFERENCES jobs(id),
  number INTEGER NOT NULL,
  node TEXT NOT NULL,
  started_at REAL NOT NULL,
  ended_at REAL,
  outcome TEXT,
  PRIMARY KEY (job, number)
);
CREATE TABLE IF NOT EXISTS nodes (
  name TEXT PRIMARY KEY,
  slots INTEGER NOT NULL,
  alive INTEGER NOT NULL,
  draining INTEGER NOT NULL DEFAULT 0,
  registered_at REAL NOT NULL,
  last_seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
  job INTEGER NOT NULL REFERENCES jobs(id),
  sequence INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  node TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  bases_json TEXT NOT NULL,
  created_at REAL NOT NULL,
  PRIMARY KEY (job, sequence)
);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  at REAL NOT NULL,
  kind TEXT NOT NULL,
  text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_job ON events (job, id);
`;

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

export function openDb(dataDir: string): Db {
  checkDataDir(dataDir);
  // Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the database
  // file's mode, so all three are private from their creation on.
  const file = path.join(dataDir, DB_FILE);
  fs.closeSync(fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600));
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  const row = db.prepare(`SELECT value FROM meta WHERE key = 'schema'`).get() as { value: string } | undefined;
  if (row === undefined) {
    db.prepare(`INSERT INTO meta (key, value) VALUES ('schema', ?)`).run(String(SCHEMA_VERSION));
  } else if (Number(row.value) !== SCHEMA_VERSION) {
    db.close();
    throw new Error(
      `the scheduler database ${path.join(dataDir, DB_FILE)} has schema version ${row.value}, this cr-scheduler knows ${SCHEMA_VERSION}: use a matching cr-scheduler`,
    );
  }
  return db;
}
