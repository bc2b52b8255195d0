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
  t.regex(error!.message, /cr\.state\(\) was called outside a job: run the job with "cr-scheduler run job\.mjs"/);
  t.throws(() => cr.restored, { instanceOf: NotInJobError });
});

test('library code that imports cr from the package reaches the running job, and resumes with it', (t) => {
  const store = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-library-'));
  t.teardown(() => fs.rmSync(store, { recursive: true, force: true }));
  const run = (): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, [CLI, 'run', JOB, '--store', store, '--every', '3', '--no-progress'], { encoding: 'utf8' });
  const first = run();
  t.is(first.status, 0, String(first.stderr));
  t.deepEqual(JSON.parse(String(first.stdout)), { count: 10, restored: false });
  t.deepEqual(fs.readdirSync(path.join(store, 'library-job')).filter((f) => f.endsWith('.crimg')), ['00000001.crimg', '00000002.crimg', '00000003.crimg']);
  // Run again: it resumes from image 3 (count 9, the state the helper registered) and finishes.
  const second = run();
  t.is(second.status, 0, String(second.stderr));
  t.regex(String(second.stderr), /library-job: resumed at 9/);
  t.deepEqual(JSON.parse(String(second.stdout)), { count: 10, restored: true });
});
