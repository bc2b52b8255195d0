// Printed commands: how cr was started (npx, its bin, node and a script), shell quoting that a
// shell reads back as the same words, and the options a user gave.
import { spawnSync } from 'node:child_process';
import test from 'ava';
import { Command } from 'commander';
import { runCommand } from '../../scheduler/commands/run.js';
import { commandLine, givenOptions, invokedAs, shellQuote } from '../../scheduler/invocation.js';

test('invokedAs names npx under npx, the bin through its link, and node with the script otherwise.', (t) => {
  t.deepEqual(invokedAs({ npm_command: 'exec' }, ['/usr/bin/node', '/p/node_modules/.bin/cr-scheduler'], '/p'), ['npx', 'cr-scheduler']);
  t.deepEqual(invokedAs({}, ['/usr/bin/node', '/usr/local/bin/cr-scheduler'], '/p'), ['cr-scheduler']);
  t.deepEqual(invokedAs({ npm_command: 'run-script' }, ['/usr/bin/node', '/p/node_modules/.bin/cr-scheduler'], '/p'), ['cr-scheduler']);
  t.deepEqual(invokedAs({}, ['/usr/bin/node', '/p/dist/scheduler/cli.js'], '/p'), ['node', 'dist/scheduler/cli.js']);
  t.deepEqual(invokedAs({ npm_command: 'exec' }, ['/usr/bin/node', '/q/dist/scheduler/cli.js'], '/p'), ['node', '/q/dist/scheduler/cli.js']);
});

const WORDS = ['plain', 'a b', "it's", '{"n": 1024, "steps": 8000}', '', '$HOME', '`x`', 'tab\there', 'line\nbreak', 'esc\u001b[2J', 'back\\slash\'s', '*', '~user', 'ünïcode'];

test('shellQuote leaves plain words alone and quotes the rest so that a shell reads the same words back.', (t) => {
  t.is(shellQuote('examples/heat2d.mjs'), 'examples/heat2d.mjs');
  t.is(shellQuote('--interval'), '--interval');
  t.is(shellQuote('{"n": 1}'), `'{"n": 1}'`);
  t.is(shellQuote("it's"), `'it'\\''s'`);
  for (const word of WORDS) {
    const quoted = shellQuote(word);
    t.false(/[\n\u001b]/.test(quoted), `${JSON.stringify(quoted)} holds a control character`);
  }
  const bash = spawnSync('bash', ['-c', `printf '%s\\0' ${commandLine(WORDS)}`], { encoding: 'utf8' });
  if (bash.error) {
    t.log('bash is not installed: the round trip through a shell is not checked');
    return;
  }
  t.deepEqual(bash.stdout.split('\0').slice(0, -1), WORDS);
});

test('givenOptions lists the options given on the command line or by CR_* variables, not defaults and not the omitted ones.', (t) => {
  const program = new Command('cr-scheduler').exitOverride();
  let got: string[] = [];
  const run = runCommand(() => false)
    .exitOverride()
    .action((_file: string, _flags: unknown, command: Command) => {
      got = givenOptions(command, ['--from', '--fresh']);
    });
  program.addCommand(run);
  const saved = process.env.CR_KEEP;
  process.env.CR_KEEP = '5';
  try {
    program.parse(['node', 'cr-scheduler', 'run', 'job.mjs', '--interval', '30', '--args', '{"n": 2}', '--fresh', '--no-progress', '--retry-delay', '0', '--capture', 'stage']);
  } finally {
    if (saved === undefined) delete process.env.CR_KEEP;
    else process.env.CR_KEEP = saved;
  }
  t.deepEqual(got, ['--args', '{"n": 2}', '--interval', '30', '--retry-delay', '0', '--keep', '5', '--capture', 'stage', '--no-progress']);
});
