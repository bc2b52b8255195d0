// The data directory and the database files are private from their creation: 0700 and 0600
// (the -wal and -shm too), whatever the umask; a directory others can write is refused.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { DatabaseError, DataDirError, DB_FILE, openDb } from '../../../scheduler/server/db.js';
import { SchedulerCore } from '../../../scheduler/server/scheduler.js';
import { Tokens } from '../../../scheduler/server/tokens.js';
import { tempDir } from '../../runner/helpers.js';
import { SCHEMA_V1 } from './legacy-schema.js';

const mode = (file: string): number => fs.statSync(file).mode & 0o777;

test('A new data directory is 0700 and scheduler.db, its -wal and -shm, image key and images are 0600, even under umask 000.', async (t) => {
  const dir = path.join(tempDir(t, 'db'), 'nested', 'data');
  const old = process.umask(0);
  let c: SchedulerCore;
  try {
    c = await SchedulerCore.open({ dataDir: dir, leaseTimeoutMs: 1000 });
  } finally {
    process.umask(old);
  }
  t.teardown(() => c.close());
  await c.submit({ name: 'j', code: Buffer.from('export default 1'), argsJson: '{}', retries: 0, priority: 0, intervalMs: 1000, fullEvery: 8 });
  t.is(mode(dir), 0o700);
  t.is(mode(path.dirname(dir)), 0o700, 'a missing parent is created 0700 too');
  for (const f of [DB_FILE, `${DB_FILE}-wal`, `${DB_FILE}-shm`]) t.is(mode(path.join(dir, f)), 0o600, f);
  t.is(mode(path.join(dir, 'images', '.key')), 0o600);
});

test('A data directory that group or others can write is refused with how to fix it, and nothing is created in it.', async (t) => {
  for (const bits of [0o770, 0o707, 0o777]) {
    const dir = tempDir(t, 'db-open');
    fs.chmodSync(dir, bits);
    const e = await t.throwsAsync(() => openDb(dir), { instanceOf: DataDirError });
    t.is(e.code, 'CR_DATA_DIR_UNSAFE');
    t.regex(e.message, new RegExp(`chmod 700 ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    t.deepEqual(fs.readdirSync(dir), []);
  }
});

test('A data directory others can only read is accepted (serve warns about it).', async (t) => {
  const dir = tempDir(t, 'db-read');
  fs.chmodSync(dir, 0o755);
  const db = await openDb(dir);
  t.teardown(() => db.close());
  t.is(mode(path.join(dir, DB_FILE)), 0o600);
});

test('A data directory made by the scheduler before migrations upgrades in place: its jobs, attempts, tokens and images are kept and the jobs go on.', async (t) => {
  const dir = tempDir(t, 'db-v1');
  fs.chmodSync(dir, 0o700);
  const old = new Database(path.join(dir, DB_FILE));
  old.pragma('journal_mode = WAL');
  old.exec(SCHEMA_V1);
  old.prepare(`INSERT INTO meta (key, value) VALUES ('schema', '1')`).run();
  old.prepare(`INSERT INTO code (sha256, bytes) VALUES ('c0de', ?)`).run(Buffer.from('export default async () => 7'));
  const insert = old.prepare(
    `INSERT INTO jobs (name, state, priority, retries, code_sha256, args_json, interval_ms, full_every, attempt, node, submitted_at) VALUES (?, ?, 0, 1, 'c0de', '{}', 1000, 8, ?, ?, 1000)`,
  );
  const running = Number(insert.run('running', 'running', 1, 'n1').lastInsertRowid);
  const queued = Number(insert.run('queued', 'queued', 0, null).lastInsertRowid);
  old.prepare(`INSERT INTO attempts (job, number, node, started_at) VALUES (?, 1, 'n1', 1000)`).run(running);
  old.prepare(`INSERT INTO nodes (name, slots, alive, registered_at, last_seen) VALUES ('n1', 2, 1, 1000, 1000)`).run();
  old.prepare(`INSERT INTO images (job, sequence, attempt, node, bytes, sha256, bases_json, created_at) VALUES (?, 1, 1, 'n1', 5000000000, 'ab', '[]', 1000)`).run(running);
  old.prepare(`INSERT INTO tokens (id, role, label, secret_sha256, created_at, expires_at) VALUES ('0123456789ab', 'user', 'alice', 'ff', 1000, 0)`).run();
  old.prepare(`INSERT INTO events (job, attempt, at, kind, text) VALUES (?, 0, 1000, 'event', 'submitted')`).run(running);
  old.close();

  const c = await SchedulerCore.open({ dataDir: dir, leaseTimeoutMs: 1000 });
  t.teardown(() => c.close().catch(() => undefined));
  t.like(await c.jobs.get(running), { state: 'running', attempt: 1, node: 'n1' });
  t.like(await c.jobs.get(queued), { state: 'queued' });
  t.deepEqual(await c.jobs.attempts(running), [{ number: 1, node: 'n1', outcome: null, started_at: 1000, ended_at: null }]);
  t.is(await c.images.bytes(running), 5_000_000_000, 'byte counts past 2^32 survive');
  t.like(await new Tokens(c.db).get('0123456789ab'), { role: 'user', label: 'alice' });
  t.deepEqual((await c.jobs.events(running, 0)).map((e) => e.text), ['submitted']);
  t.is((await c.db.q.selectFrom('meta').select('value').where('key', '=', 'schema').executeTakeFirst())?.value, '2', 'a scheduler from before migrations now refuses the file');
  // The job placed before the upgrade finishes on its node; the queued one is placed.
  t.true(await c.finish({ job: running, attempt: 1, outcome: 'SUCCEEDED', resultJson: '7', errorJson: '', retryable: false }));
  t.like(await c.jobs.get(running), { state: 'succeeded', result_json: '7' });
  const next = await c.submit({ name: 'new', code: Buffer.from('export default 1'), argsJson: '{}', retries: 0, priority: 0, intervalMs: 1000, fullEvery: 8 });
  t.true(next.id! > queued, 'new ids follow the old ones');
  await c.close();
  // Opened again: nothing to migrate, nothing lost.
  const again = await SchedulerCore.open({ dataDir: dir, leaseTimeoutMs: 1000 });
  t.teardown(() => again.close().catch(() => undefined));
  t.is((await again.jobs.list()).length, 3);
});

test('A database brought to a newer schema by a newer scheduler is refused, saying so, and left as it is.', async (t) => {
  const dir = tempDir(t, 'db-newer');
  const db = await openDb(dir);
  await db.q.insertInto('kysely_migration' as never).values({ name: '9999-future', timestamp: new Date().toISOString() } as never).execute();
  await db.close();
  const e = await t.throwsAsync(() => openDb(dir), { instanceOf: DatabaseError });
  t.is(e.code, 'CR_DB');
  t.regex(e.message, /newer schema by a newer cr-scheduler/);
});
