// The SQLite schema of the scheduler before migrations (schema version 1, as the scheduler's
// db.ts, tokens.ts, attempt-guard.ts, owners.ts and node-identity.ts created it), copied
// verbatim: the fixture that shows a data directory of that scheduler upgrades in place.
export const SCHEMA_V1 = [
  `
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
`,
  `
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK (role IN ('agent', 'user', 'admin')),
  label TEXT NOT NULL,
  secret_sha256 TEXT NOT NULL,
  created_at REAL NOT NULL,
  expires_at REAL NOT NULL,
  revoked_at REAL NOT NULL DEFAULT 0
);`,
  `
CREATE TABLE IF NOT EXISTS attempt_secrets (
  job INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  node TEXT NOT NULL,
  secret_sha256 BLOB NOT NULL,
  PRIMARY KEY (job, attempt)
);`,
  `
CREATE TABLE IF NOT EXISTS job_owners (
  job INTEGER PRIMARY KEY,
  token TEXT NOT NULL,
  label TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_owners_token ON job_owners (token);`,
  `
CREATE TABLE IF NOT EXISTS node_certificates (
  serial TEXT PRIMARY KEY,
  node TEXT NOT NULL,
  issued_at REAL NOT NULL,
  expires_at REAL NOT NULL,
  revoked_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS node_certificates_node ON node_certificates (node);
CREATE TABLE IF NOT EXISTS token_nodes (
  token TEXT PRIMARY KEY,
  node TEXT NOT NULL,
  bound_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS token_nodes_node ON token_nodes (node);`,
].join('\n');
