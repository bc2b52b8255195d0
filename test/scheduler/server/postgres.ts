// The test database of the scheduler tests: SQLite, or with CR_TEST_DB=postgres a real
// PostgreSQL 15 (test/postgres/server.ts) started once per test file when first asked for, and
// stopped and removed when the file's tests end. Each caller gets a database of its own on it.
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { postgresProblem, startPostgres, type PostgresServer } from '../../postgres/server.js';

export { postgresProblem };

/** Which database the scheduler tests run against: CR_TEST_DB=postgres, else SQLite. */
export const TEST_DB: 'sqlite' | 'postgres' = process.env.CR_TEST_DB === 'postgres' ? 'postgres' : 'sqlite';

let server: Promise<PostgresServer> | null = null;
/** The database of each data directory a test started a scheduler on, by its resolved path. */
const ofDataDir = new Map<string, Promise<string | null>>();

// Declared only in the PostgreSQL run, so that the SQLite run of a file is unchanged by it (a
// file that awaits before declaring its tests cannot declare them after a hook has been).
if (TEST_DB === 'postgres') {
  test.after.always(async () => {
    if (server === null) return;
    const started = await server.catch(() => null);
    await started?.stop();
  });
}

/** The URL of a new, empty database on this file's PostgreSQL server (started on first use). */
export async function newDatabase(): Promise<string> {
  server ??= startPostgres();
  return (await server).newDatabase();
}

/** The `--db` URL a test's scheduler uses: null (SQLite under its data directory) unless CR_TEST_DB=postgres. */
export async function testDbUrl(t: ExecutionContext): Promise<string | null> {
  if (TEST_DB !== 'postgres') return null;
  const problem = postgresProblem();
  if (problem !== null) {
    t.log(`CR_TEST_DB=postgres, but ${problem}`);
    throw new Error(problem);
  }
  return newDatabase();
}

/**
 * The `--db` URL of a scheduler process on `dataDir`: null on SQLite (the directory's own file);
 * on PostgreSQL one database per data directory, so that a scheduler started again on the same
 * directory finds its jobs, as it would on SQLite.
 */
export function testDbOfDataDir(t: ExecutionContext, dataDir: string): Promise<string | null> {
  const key = path.resolve(dataDir);
  if (!ofDataDir.has(key)) ofDataDir.set(key, testDbUrl(t));
  return ofDataDir.get(key)!;
}
