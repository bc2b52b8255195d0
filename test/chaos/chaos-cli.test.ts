// `npm run test:chaos` is a plain Node script, not an ava test file: it must load without ava
// (a helper that imports ava at run time made it print "Test files must be run with the AVA CLI"
// and exit). Its flags are checked before it starts anything.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'chaos.js');

test('The chaos script loads outside ava: --help prints its usage and exits 0.', (t) => {
  const run = spawnSync(process.execPath, [SCRIPT, '--help'], { encoding: 'utf8' });
  t.is(run.status, 0, run.stderr);
  t.regex(run.stdout, /^usage: npm run test:chaos -- /);
});

test('The chaos script refuses an unknown flag with exit 2 before it starts anything.', (t) => {
  const run = spawnSync(process.execPath, [SCRIPT, '--jobz', '3'], { encoding: 'utf8' });
  t.is(run.status, 2, run.stdout + run.stderr);
  t.regex(run.stderr, /--jobz/);
});
