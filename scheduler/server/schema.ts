// The scheduler's tables as TypeScript sees them: the one description every query is typed
// against, for SQLite and PostgreSQL alike (migrations.ts creates them). Times are milliseconds
// since the epoch as numbers; 0/1 integers stand for booleans, as SQLite has none.
import type { ColumnType, Generated, Selectable } from 'kysely';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
/** A request being served on a running job. */
export type Pending = 'checkpoint' | 'migrate' | null;

/** A column with a default: optional on insert. */
type Defaulted<T> = ColumnType<T, T | undefined, T>;

export interface JobsTable {
  id: Generated<number>;
  name: string;
  state: JobState;
  priority: number;
  retries: number;
  retries_used: Defaulted<number>;
  moves: Defaulted<number>;
  code_sha256: string;
  args_json: string;
  interval_ms: number;
  full_every: number;
  attempt: Defaulted<number>;
  node: string | null;
  pending: Pending;
  progress: Defaulted<number>;
  message: Defaulted<string>;
  result_json: string | null;
  error_json: string | null;
  not_before: Defaulted<number>;
  submitted_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface Schema {
  meta: { key: string; value: string };
  code: { sha256: string; bytes: Buffer };
  jobs: JobsTable;
  attempts: { job: number; number: number; node: string; started_at: number; ended_at: number | null; outcome: string | null };
  nodes: { name: string; slots: number; alive: number; draining: Defaulted<number>; registered_at: number; last_seen: number };
  images: { job: number; sequence: number; attempt: number; node: string; bytes: number; sha256: string; bases_json: string; created_at: number };
  events: { id: Generated<number>; job: number; attempt: number; at: number; kind: string; text: string };
  tokens: { id: string; role: 'agent' | 'user' | 'admin'; label: string; secret_sha256: string; created_at: number; expires_at: number; revoked_at: Defaulted<number> };
  attempt_secrets: { job: number; attempt: number; node: string; secret_sha256: Buffer };
  job_owners: { job: number; token: string; label: string };
  node_certificates: { serial: string; node: string; issued_at: number; expires_at: number; revoked_at: Defaulted<number> };
  token_nodes: { token: string; node: string; bound_at: number };
  /** One row (id 1): who leads, under which epoch, until when by the database's clock (leadership.ts). */
  leader: { id: number; epoch: number; holder: string; address: string; expires_at: number };
  /** What each checkpoint cost, as its node measured it (image-stats.ts); kept after retention removes the image. */
  image_stats: { job: number; sequence: number; attempt: number; raw_bytes: number; pause_ms: number; commit_ms: number; incremental: number };
}

export type JobRow = Selectable<JobsTable>;
export type NodeRow = Selectable<Schema['nodes']>;
export type ImageRow = Selectable<Schema['images']>;
