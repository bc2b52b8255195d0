// The scheduler's SQLite connection keeps its prepared statements: a query text is prepared once,
// the least recently used ones are let go beyond a bound, and a kept statement follows a schema
// change made after it was prepared (SQLite re-prepares it).
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { keepingStatements } from '../../../scheduler/server/sqlite-statements.js';
import { tempDir } from '../../runner/helpers.js';

function counted(t: ExecutionContext): { db: Database.Database; prepared: string[] } {
  const db = new Database(path.join(tempDir(t, 'statements'), 'x.db'));
  t.teardown(() => db.open && db.close());
  const prepared: string[] = [];
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => (prepared.push(sql), prepare(sql))) as typeof db.prepare;
  return { db, prepared };
}

test('A query text is prepared once and its statement reused.', (t) => {
  const { db, prepared } = counted(t);
  db.exec('CREATE TABLE t (a INTEGER)');
  const kept = keepingStatements(db);
  kept.prepare('INSERT INTO t (a) VALUES (?)').run([1]);
  kept.prepare('INSERT INTO t (a) VALUES (?)').run([2]);
  t.deepEqual(kept.prepare('SELECT a FROM t ORDER BY a').all([]), [{ a: 1 }, { a: 2 }]);
  t.deepEqual(prepared, ['INSERT INTO t (a) VALUES (?)', 'SELECT a FROM t ORDER BY a']);
});

test('Beyond 256 texts the least recently used statement is let go, and prepared again when asked for.', (t) => {
  const { db, prepared } = counted(t);
  const kept = keepingStatements(db);
  const text = (i: number): string => `SELECT ${i} AS v`;
  kept.prepare(text(0));
  for (let i = 1; i <= 256; i++) {
    kept.prepare(text(i));
    if (i === 200) kept.prepare(text(0)); // used again: now not the least recent
  }
  t.is(prepared.length, 257);
  kept.prepare(text(0));
  t.is(prepared.length, 257, 'statement 0 was used recently, so it is still kept');
  t.deepEqual(kept.prepare(text(1)).all([]), [{ v: 1 }]);
  t.is(prepared.length, 258, 'statement 1 was the least recent and was let go');
});

test('A kept statement sees a column added after it was prepared.', (t) => {
  const { db } = counted(t);
  db.exec('CREATE TABLE t (a INTEGER)');
  const kept = keepingStatements(db);
  kept.prepare('INSERT INTO t (a) VALUES (?)').run([1]);
  t.deepEqual(kept.prepare('SELECT * FROM t').all([]), [{ a: 1 }]);
  db.exec("ALTER TABLE t ADD COLUMN b TEXT NOT NULL DEFAULT 'x'");
  t.deepEqual(kept.prepare('SELECT * FROM t').all([]), [{ a: 1, b: 'x' }]);
});

test('Closing closes the database.', (t) => {
  const { db } = counted(t);
  keepingStatements(db).close();
  t.false(db.open);
});
