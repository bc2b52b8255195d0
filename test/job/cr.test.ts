import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cr, NotInJobError } from '../../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(here, '../../scheduler/cli.js');
const JOB = path.resolve(here, '../../../test/fixtures/library-job.mjs');

test('cr used outside a job throws NotInJobError saying how to run one', (t) => {
  const error = t.throws(() => cr.state('x', {}), { instanceOf: NotInJobError });
  t.is(error?.code, 'CR_NOT_IN_JOB');
  t.regex(error!.message, /cr\.state\(\) was called outside a job: call it from the code of a running job \(the job file's exported function/);
  t.throws(() => cr.restored, { instanceOf: NotInJobError });
});

test('library code that imports cr from the package reaches the running job, and resumes with it', (t) => {
  const store = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-library-'));
  t.teardown(() => fs.rmSync(store, { recursive: true, force: true }));
  const run = (...extra: string[]): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, [CLI, 'run', JOB, '--store', store, '--every', '3', '--no-progress', ...extra], { encoding: 'utf8' });
  const first = run();
  t.is(first.status, 0, String(first.stderr));
  t.deepEqual(JSON.parse(String(first.stdout)), { count: 10, restored: false });
  // A finished run keeps its last image.
  t.deepEqual(fs.readdirSync(path.join(store, 'library-job')).filter((f) => f.endsWith('.crimg')).at(-1), '00000003.crimg');
  // Run again from image 3 (count 9, the state the helper registered): it resumes and finishes.
  const second = run('--from', path.join(store, 'library-job', '00000003.crimg'));
  t.is(second.status, 0, String(second.stderr));
  t.regex(String(second.stderr), /library-job: resumed at 9/);
  t.deepEqual(JSON.parse(String(second.stdout)), { count: 10, restored: true });
});
