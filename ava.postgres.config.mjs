// The second run of `npm test`: the scheduler core's tests again, on PostgreSQL (CR_TEST_DB,
// test/scheduler/server/postgres.ts starts a real server). Without PostgreSQL 15 installed, one
// skipped test says how to get it.
import fs from 'node:fs';

const present = fs.existsSync('/usr/lib/postgresql/15/bin/initdb') || process.env.CR_TEST_PG_BIN !== undefined;
const core = ['jobs', 'scheduler', 'attempt-guard', 'retention', 'legacy-images', 'leadership'].map((f) => `test/scheduler/server/${f}.test.ts`);

export default {
  files: present ? core : ['test/scheduler/server/postgres-absent.test.ts'],
  typescript: { rewritePaths: { 'test/': 'dist/test/' }, compile: false },
  workerThreads: false,
  timeout: '15m',
  environmentVariables: { CR_TEST_DB: 'postgres' },
};
