// `serve` on a data directory others can write: refused before anything is created, with the fix.
import fs from 'node:fs';
import test from 'ava';
import { runCli, show, STACK_FRAME, tempDir } from '../../runner/helpers.js';

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
