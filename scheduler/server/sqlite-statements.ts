// SQLite under Kysely with its prepared statements kept. Kysely's SQLite driver prepares every
// query anew, and preparing a list's query cost about a tenth of running it. The scheduler's
// queries are a fixed set of texts (placement's batches vary only by their length), so the most
// recently used STATEMENTS_KEPT stay prepared; SQLite re-prepares a kept one by itself if a
// migration changed the schema under it. Safe because Kysely runs one query at a time on its
// single SQLite connection and the scheduler never streams a query (a statement being iterated
// could not run a second time meanwhile).
import type Database from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

const STATEMENTS_KEPT = 256;

export function keepingStatements(db: Database.Database): SqliteDatabase {
  const kept = new Map<string, Database.Statement>();
  return {
    close: () => {
      kept.clear();
      db.close();
    },
    prepare: (sql: string): SqliteStatement => {
      let statement = kept.get(sql);
      if (statement === undefined) {
        statement = db.prepare(sql);
        if (kept.size >= STATEMENTS_KEPT) kept.delete(kept.keys().next().value!);
      } else kept.delete(sql); // re-inserted below: the Map's order is the recency order
      kept.set(sql, statement);
      return statement as unknown as SqliteStatement;
    },
  };
}
