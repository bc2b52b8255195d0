// `npm run bench`'s flags: --help says what each does, and a flag it does not know is refused
// before anything is measured (it used to run the whole bench).
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCH = fileURLToPath(new URL('../../bench/index.js', import.meta.url));

test('bench --help lists every flag and exits 0 without measuring.', (t) => {
  const run = spawnSync(process.execPath, [BENCH, '--help'], { encoding: 'utf8' });
  t.is(run.status, 0, run.stderr);
  for (const flag of ['--quick', '--regions', '--objects', '--cow', '--encoding', '--heat2d', '--scaling', '--plot', '--states', '--cluster', '--transfer', '--ha', '--portable']) {
    t.true(run.stdout.includes(flag), flag);
  }
  t.false(run.stdout.includes('cr bench:'), 'nothing was measured');
});

test('An unknown bench flag exits 2 naming it, with the usage, and measures nothing.', (t) => {
  const run = spawnSync(process.execPath, [BENCH, '--region'], { encoding: 'utf8' });
  t.is(run.status, 2);
  t.regex(run.stderr, /^bench: Unknown option '--region'/);
  t.true(run.stderr.includes('usage: npm run bench'));
  t.is(run.stdout, '');
});
