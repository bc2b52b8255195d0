// The data directory and the database files are private from their creation: 0700 and 0600
// (the -wal and -shm too), whatever the umask; a directory others can write is refused.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { DataDirError, DB_FILE, openDb } from '../../../scheduler/server/db.js';
import { SchedulerCore } from '../../../scheduler/server/scheduler.js';
import { tempDir } from '../../runner/helpers.js';

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
