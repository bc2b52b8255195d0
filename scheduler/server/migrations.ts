// The schema's versions, oldest first, run on start by Kysely's Migrator (db.ts). Never edit a
// migration that shipped: add the next one. The first is the schema of the scheduler before
// migrations existed, with IF NOT EXISTS throughout, so that a SQLite data directory made by
// that scheduler upgrades in place (its tables are kept as they are, with their rows) and a new
// database of either kind gets the same tables.
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export type Dialect = 'sqlite' | 'postgres';

/** `meta.schema`: a scheduler from before migrations refuses a database whose value is not its own ("1"). */
export const SCHEMA_VERSION = 2;

function types(dialect: Dialect) {
  const pg = dialect === 'postgres';
  return {
    /** An id the database assigns, growing. */
    serial: pg ? ('serial' as const) : ('integer' as const),
    bigserial: pg ? ('bigserial' as const) : ('integer' as const),
    /** Milliseconds since the epoch, fractions allowed. */
    time: pg ? ('double precision' as const) : ('real' as const),
    real: pg ? ('double precision' as const) : ('real' as const),
    /** Byte counts pass 2^31. */
    big: pg ? ('bigint' as const) : ('integer' as const),
    blob: pg ? ('bytea' as const) : ('blob' as const),
  };
}

function v1(dialect: Dialect): Migration {
  const t = types(dialect);
  return {
    async up(db: Kysely<unknown>) {
      const s = db.schema;
      await s.createTable('meta').ifNotExists().addColumn('key', 'text', (c) => c.primaryKey()).addColumn('value', 'text', (c) => c.notNull()).execute();
      await s.createTable('code').ifNotExists().addColumn('sha256', 'text', (c) => c.primaryKey()).addColumn('bytes', t.blob, (c) => c.notNull()).execute();
      await s
        .createTable('jobs')
        .ifNotExists()
        .addColumn('id', t.serial, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull().check(sql`state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')`))
        .addColumn('priority', 'integer', (c) => c.notNull())
        .addColumn('retries', 'integer', (c) => c.notNull())
        .addColumn('retries_used', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('moves', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('code_sha256', 'text', (c) => c.notNull().references('code.sha256'))
        .addColumn('args_json', 'text', (c) => c.notNull())
        .addColumn('interval_ms', t.big, (c) => c.notNull())
        .addColumn('full_every', 'integer', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('node', 'text')
        .addColumn('pending', 'text')
        .addColumn('progress', t.real, (c) => c.notNull().defaultTo(0))
        .addColumn('message', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('result_json', 'text')
        .addColumn('error_json', 'text')
        .addColumn('not_before', t.time, (c) => c.notNull().defaultTo(0))
        .addColumn('submitted_at', t.time, (c) => c.notNull())
        .addColumn('started_at', t.time)
        .addColumn('finished_at', t.time)
        .execute();
      await s.createIndex('jobs_queue').ifNotExists().on('jobs').expression(sql`state, priority DESC, id`).execute();
      await s.createIndex('jobs_node').ifNotExists().on('jobs').column('node').where(sql.ref('node'), 'is not', null).execute();
      await s
        .createTable('attempts')
        .ifNotExists()
        .addColumn('job', 'integer', (c) => c.notNull().references('jobs.id'))
        .addColumn('number', 'integer', (c) => c.notNull())
        .addColumn('node', 'text', (c) => c.notNull())
        .addColumn('started_at', t.time, (c) => c.notNull())
        .addColumn('ended_at', t.time)
        .addColumn('outcome', 'text')
        .addPrimaryKeyConstraint('attempts_pk', ['job', 'number'])
        .execute();
      await s
        .createTable('nodes')
        .ifNotExists()
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('slots', 'integer', (c) => c.notNull())
        .addColumn('alive', 'integer', (c) => c.notNull())
        .addColumn('draining', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('registered_at', t.time, (c) => c.notNull())
        .addColumn('last_seen', t.time, (c) => c.notNull())
        .execute();
      await s
        .createTable('images')
        .ifNotExists()
        .addColumn('job', 'integer', (c) => c.notNull().references('jobs.id'))
        .addColumn('sequence', 'integer', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('node', 'text', (c) => c.notNull())
        .addColumn('bytes', t.big, (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('bases_json', 'text', (c) => c.notNull())
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addPrimaryKeyConstraint('images_pk', ['job', 'sequence'])
        .execute();
      await s
        .createTable('events')
        .ifNotExists()
        .addColumn('id', t.bigserial, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('job', 'integer', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('at', t.time, (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull())
        .execute();
      await s.createIndex('events_job').ifNotExists().on('events').columns(['job', 'id']).execute();
      await s
        .createTable('tokens')
        .ifNotExists()
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('role', 'text', (c) => c.notNull().check(sql`role IN ('agent', 'user', 'admin')`))
        .addColumn('label', 'text', (c) => c.notNull())
        .addColumn('secret_sha256', 'text', (c) => c.notNull())
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addColumn('expires_at', t.time, (c) => c.notNull())
        .addColumn('revoked_at', t.time, (c) => c.notNull().defaultTo(0))
        .execute();
      await s
        .createTable('attempt_secrets')
        .ifNotExists()
        .addColumn('job', 'integer', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('node', 'text', (c) => c.notNull())
        .addColumn('secret_sha256', t.blob, (c) => c.notNull())
        .addPrimaryKeyConstraint('attempt_secrets_pk', ['job', 'attempt'])
        .execute();
      await s
        .createTable('job_owners')
        .ifNotExists()
        .addColumn('job', 'integer', (c) => c.primaryKey())
        .addColumn('token', 'text', (c) => c.notNull())
        .addColumn('label', 'text', (c) => c.notNull())
        .execute();
      await s.createIndex('job_owners_token').ifNotExists().on('job_owners').column('token').execute();
      await s
        .createTable('node_certificates')
        .ifNotExists()
        .addColumn('serial', 'text', (c) => c.primaryKey())
        .addColumn('node', 'text', (c) => c.notNull())
        .addColumn('issued_at', t.time, (c) => c.notNull())
        .addColumn('expires_at', t.time, (c) => c.notNull())
        .addColumn('revoked_at', t.time, (c) => c.notNull().defaultTo(0))
        .execute();
      await s.createIndex('node_certificates_node').ifNotExists().on('node_certificates').column('node').execute();
      await s
        .createTable('token_nodes')
        .ifNotExists()
        .addColumn('token', 'text', (c) => c.primaryKey())
        .addColumn('node', 'text', (c) => c.notNull())
        .addColumn('bound_at', t.time, (c) => c.notNull())
        .execute();
      await s.createIndex('token_nodes_node').ifNotExists().on('token_nodes').column('node').execute();
    },
  };
}

/** The leader's lease row (leadership.ts), and the schema version an older scheduler refuses. */
function v2(dialect: Dialect): Migration {
  const t = types(dialect);
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('leader')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('epoch', t.big, (c) => c.notNull())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('expires_at', t.time, (c) => c.notNull())
        .execute();
      await sql`INSERT INTO leader (id, epoch, holder, address, expires_at) VALUES (1, 0, '', '', 0)`.execute(db);
      await sql`INSERT INTO meta (key, value) VALUES ('schema', ${String(SCHEMA_VERSION)}) ON CONFLICT (key) DO UPDATE SET value = excluded.value`.execute(db);
    },
  };
}

/** What each checkpoint cost its job, for the dashboard's timeline (image-stats.ts). */
function v3(dialect: Dialect): Migration {
  const t = types(dialect);
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('image_stats')
        .ifNotExists()
        .addColumn('job', 'integer', (c) => c.notNull())
        .addColumn('sequence', 'integer', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('raw_bytes', t.big, (c) => c.notNull())
        .addColumn('pause_ms', t.real, (c) => c.notNull())
        .addColumn('commit_ms', t.real, (c) => c.notNull())
        .addColumn('incremental', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('image_stats_pk', ['job', 'sequence'])
        .execute();
    },
  };
}

/** Every migration by name; names sort in the order they run. */
export function migrations(dialect: Dialect): Record<string, Migration> {
  return { '0001-initial': v1(dialect), '0002-leader': v2(dialect), '0003-image-stats': v3(dialect) };
}
