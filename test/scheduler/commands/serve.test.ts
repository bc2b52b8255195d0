// `serve` on a data directory others can write: refused before anything is created, with the fix.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { runCli, show, STACK_FRAME, tempDir } from '../../runner/helpers.js';
import { CLUSTER_JOB, startScheduler } from '../helpers.js';

test('serve refuses a data directory that group or others can write, says how to fix it, and creates nothing there.', async (t) => {
  const dir = tempDir(t, 'serve-unsafe');
  fs.chmodSync(dir, 0o777);
  const run = await runCli(t, ['serve', '--port', '0', '--data', dir, '--no-local-agent']);
  t.is(run.code, 1, show(run));
  t.regex(run.stderr, /can be written by its group and others \(mode 777\).*chmod 700/);
  t.notRegex(run.stderr, STACK_FRAME);
  t.is(run.stdout, '');
  t.deepEqual(fs.readdirSync(dir), []);
});

test('serve with a relative --data runs jobs on its own agent, as the README starts it.', async (t) => {
  const dataDir = path.relative(process.cwd(), path.join(tempDir(t, 'serve-relative'), 'data'));
  t.false(path.isAbsolute(dataDir));
  const scheduler = await startScheduler(t, { dataDir, localAgent: true });
  const run = await runCli(t, ['submit', CLUSTER_JOB, '--args', '{"steps": 20, "stepMs": 0}', '--watch', ...scheduler.args]);
  t.is(run.code, 0, show(run));
  t.is((JSON.parse(run.stdout) as { steps: number }).steps, 20);
});

test('serve refuses an --images store it cannot use, saying what to write instead, without a stack trace.', async (t) => {
  const dir = tempDir(t, 'serve-images');
  const cases: [string, RegExp][] = [
    [path.join(dir, 'missing'), /image store .*missing cannot be used: .*create the directory \(on storage every node mounts\)/],
    ['s3://Not_A_Bucket', /"s3:\/\/Not_A_Bucket" is not an S3 location; write s3:\/\/BUCKET or s3:\/\/BUCKET\/PREFIX/],
  ];
  for (const [images, reason] of cases) {
    const run = await runCli(t, ['serve', '--port', '0', '--data', path.join(dir, 'data'), '--no-local-agent', '--images', images]);
    t.is(run.code, 1, show(run));
    t.regex(run.stderr, reason);
    t.notRegex(run.stderr, STACK_FRAME);
    t.is(run.stdout, '');
  }
});
