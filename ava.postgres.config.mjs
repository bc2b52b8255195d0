// The second run of `npm test`: the scheduler tests that touch the database, again on PostgreSQL
// (CR_TEST_DB=postgres; test/postgres/server.ts starts a real server per test file). This list is
// the one place that says which tests run on both backends. A file here gets its database from
// test/scheduler/server/postgres.ts (directly, or through server/helpers.ts `core` or
// helpers.ts `startScheduler`) and declares its tests without awaiting first. Without
// PostgreSQL 15 installed, one skipped test says how to get it.
import fs from 'node:fs';

const present = fs.existsSync('/usr/lib/postgresql/15/bin/initdb') || process.env.CR_TEST_PG_BIN !== undefined;
const onBoth = [
  ...['jobs', 'scheduler', 'attempt-guard', 'retention', 'legacy-images', 'leadership', 'upload', 'metrics', 'image-stats'].map((f) => `test/scheduler/server/${f}.test.ts`),
  'test/scheduler/ha/failover.test.ts',
  // A scheduler SIGKILLed and started again on its database; `list` before and after.
  'test/scheduler/restart.test.ts',
  // The CLI's commands against a scheduler process, and the dashboard's views and counts.
  ...['commands', 'commands/images', 'commands/logs', 'http/server'].map((f) => `test/scheduler/${f}.test.ts`),
];

export default {
  files: present ? onBoth : ['test/scheduler/server/postgres-absent.test.ts'],
  typescript: { rewritePaths: { 'test/': 'dist/test/' }, compile: false },
  workerThreads: false,
  timeout: '15m',
  environmentVariables: { CR_TEST_DB: 'postgres' },
};
