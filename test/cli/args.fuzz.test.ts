// The command line's option parsing under arbitrary values (fast-check): every malformed value of
// every `run` and `image` option is a usage error — exit 2, one line that names the option, no
// stack trace, nothing created — and every well-formed value is taken as written. The parsers are
// driven through commander in this process; a sample goes through the real `cr-scheduler` process.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { Command, CommanderError } from 'commander';
import fc from 'fast-check';
import { imageCommand } from '../../scheduler/commands/image.js';
import { runCommand } from '../../scheduler/commands/run.js';
import { MAX_SECONDS, MAX_TIMER_SECONDS } from '../../scheduler/options.js';
import { oneLine } from '../../scheduler/output.js';
import { CLI, FIXTURES, STACK_FRAME, runCli, show, tempDir, testSeed } from '../runner/helpers.js';

const SEED = testSeed();
const RUNS = 300;
const COUNTER = path.join(FIXTURES, 'counter-job.mjs');

interface Parsed {
  /** The options the action would have received, when parsing succeeded. */
  options: Record<string, unknown> | null;
  error: CommanderError | null;
  stderr: string;
}

/**
 * Parses `cr-scheduler <argv>` with the real commands, but with actions that only record their
 * options, and the error output cli.ts configures (one line per error).
 */
function parse(argv: string[], env: Record<string, string> = {}): Parsed {
  const program = new Command('cr-scheduler').exitOverride();
  let options: Record<string, unknown> | null = null;
  const record = (...args: unknown[]): void => {
    options = (args.at(-1) as Command).opts();
  };
  const run = runCommand(() => false).exitOverride().action(record);
  const image = imageCommand().exitOverride();
  for (const sub of image.commands) sub.exitOverride().action(record);
  program.addCommand(run).addCommand(image);
  let stderr = '';
  const configure = (c: Command): void => {
    c.configureOutput({ writeErr: (s) => (stderr += s), writeOut: () => undefined, outputError: (s, write) => write(oneLine(s)) });
    c.commands.forEach(configure);
  };
  configure(program);
  const saved = new Map(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    program.parse(['node', 'cr-scheduler', ...argv]);
    return { options, error: null, stderr };
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    return { options: null, error: err, stderr };
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** What a usage error must look like: commander's code, exit 1 (cli.ts makes it 2), one line naming the flag. */
function usageProblem(p: Parsed, flag: string): string | null {
  if (p.error === null) return `accepted (${JSON.stringify(p.options)})`;
  if (p.error.code !== 'commander.invalidArgument' || p.error.exitCode !== 1) return `commander error ${p.error.code}`;
  const lines = p.stderr.split('\n').filter((l) => l !== '');
  if (lines.length !== 1) return `${lines.length} lines: ${JSON.stringify(p.stderr)}`;
  if (!lines[0]!.startsWith(`error: option '${flag} <`)) return `does not name ${flag}: ${lines[0]}`;
  if (STACK_FRAME.test(p.stderr)) return 'a stack trace';
  return null;
}

/** Strings a user could type by mistake, and strings nobody would. */
const anyValue = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constantFrom('', ' ', ' 5', '5 ', '\t1', '1\n', '0x10', '0b11', '0o7', '1e400', '-1e400', 'Infinity', '-Infinity', 'NaN', '-0', '+0', '0', '-1', '1,5', '1_000', '١', '５', '1e', 'e1', '.', '1.2.3', '--', '99999999999999999999', '9007199254740993', '1e-400', '2147484', '1e9', '1000000001'),
  fc.double().map(String),
  fc.integer().map(String),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
);

/** `zero`: 0 is a value (--retry-delay 0 restarts at once); else only positive numbers are. */
const SECONDS: { flag: string; key: string; max: number; env?: string; zero?: boolean }[] = [
  { flag: '--interval', key: 'interval', max: MAX_SECONDS, env: 'CR_INTERVAL' },
  { flag: '--mtbf', key: 'mtbf', max: MAX_SECONDS, env: 'CR_MTBF' },
  { flag: '--retry-delay', key: 'retryDelay', max: MAX_TIMER_SECONDS, zero: true },
];
const COUNTS: { flag: string; key: string; min: number; env?: string }[] = [
  { flag: '--every', key: 'every', min: 1 },
  { flag: '--retries', key: 'retries', min: 0, env: 'CR_RETRIES' },
  { flag: '--keep', key: 'keep', min: 1, env: 'CR_KEEP' },
  { flag: '--full-every', key: 'fullEvery', min: 1, env: 'CR_FULL_EVERY' },
  { flag: '--level', key: 'level', min: 1 },
  { flag: '--max-heap', key: 'maxHeap', min: 16 },
];

const decimal = (v: string): boolean => /^\+?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(v);

/** Any value, from the flag or from its variable: taken as Number(value) when `wellFormed`, else a usage error. */
function assertOption(flag: string, key: string, env: string | undefined, wellFormed: (value: string) => boolean): void {
  fc.assert(
    fc.property(anyValue, fc.boolean(), (value, fromEnv) => {
      const useEnv = fromEnv && env !== undefined;
      const p = useEnv ? parse(['run', 'job.mjs'], { [env]: value }) : parse(['run', 'job.mjs', `${flag}=${value}`]);
      const what = `${flag} ${JSON.stringify(value)}${useEnv ? ` (from ${env})` : ''}`;
      if (wellFormed(value)) {
        if (p.error) throw new Error(`${what} refused: ${p.stderr}`);
        if (p.options![key] !== Number(value)) throw new Error(`${what} became ${String(p.options![key])}`);
      } else {
        const problem = usageProblem(p, flag);
        if (problem) throw new Error(`${what}: ${problem}`);
      }
    }),
    { seed: SEED, numRuns: RUNS },
  );
}

test('Every value of a seconds option is either a positive (or, where allowed, zero) decimal number within its bound, taken as written, or a usage error naming the option.', (t) => {
  for (const { flag, key, max, env, zero } of SECONDS) assertOption(flag, key, env, (v) => decimal(v) && (zero ? Number(v) >= 0 : Number(v) > 0) && Number(v) <= max);
  t.pass();
});

test('Every value of a count option is either a decimal whole number in range, taken as written, or a usage error naming the option.', (t) => {
  for (const { flag, key, min, env } of COUNTS) assertOption(flag, key, env, (v) => /^\d+$/.test(v) && Number.isSafeInteger(Number(v)) && Number(v) >= min);
  t.pass();
});

test('Well-formed values round-trip: any positive double within the bound and any safe integer are taken exactly.', (t) => {
  fc.assert(
    fc.property(fc.double({ min: Number.MIN_VALUE, max: MAX_TIMER_SECONDS, noNaN: true }), fc.maxSafeNat(), (seconds, count) => {
      const keep = Math.max(1, count);
      const p = parse(['run', 'job.mjs', '--interval', String(seconds), '--retry-delay', String(seconds), '--retries', String(count), '--keep', String(keep)]);
      if (p.error) throw new Error(p.stderr);
      const o = p.options!;
      if (o.interval !== seconds || o.retryDelay !== seconds || o.retries !== count || o.keep !== keep) throw new Error(JSON.stringify(o));
    }),
    { seed: SEED, numRuns: RUNS },
  );
  t.pass();
});

test('--args takes any JSON text as its value and refuses anything else with a usage error.', (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.json(), fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 10 })), (value) => {
      let parsed: unknown;
      let valid = true;
      try {
        parsed = JSON.parse(value);
      } catch {
        valid = false;
      }
      const p = parse(['run', 'job.mjs', '--args', value]);
      if (valid) {
        if (p.error) throw new Error(`${JSON.stringify(value)} refused: ${p.stderr}`);
        t.is(p.options!.args, value, 'the text is kept as given');
        t.deepEqual(JSON.parse(p.options!.args as string), parsed);
      } else {
        const problem = usageProblem(p, '--args');
        if (problem) throw new Error(`--args ${JSON.stringify(value)}: ${problem}`);
      }
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

test('Path options refuse an empty value or a NUL byte with a usage error, and take any other name unchanged.', (t) => {
  const flags: [string[], string, string][] = [
    [['run', 'job.mjs'], '--store', 'store'],
    [['run', 'job.mjs'], '--from', 'from'],
    [['run', 'job.mjs'], '--key-file', 'keyFile'],
    [['image', 'inspect', 'x.crimg'], '--key-file', 'keyFile'],
    [['image', 'verify', 'x.crimg'], '--key-file', 'keyFile'],
  ];
  for (const [command, flag, key] of flags) {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 10 }), fc.constantFrom('', '\0', 'a\0b', '../..', '/', '.')), (value) => {
        const p = parse([...command, `${flag}=${value}`]);
        if (value === '' || value.includes('\0')) {
          const problem = usageProblem(p, flag);
          if (problem) throw new Error(`${command.join(' ')} ${flag} ${JSON.stringify(value)}: ${problem}`);
        } else if (p.error || p.options![key] !== value) {
          throw new Error(`${command.join(' ')} ${flag} ${JSON.stringify(value)}: ${p.stderr || String(p.options![key])}`);
        }
      }),
      { seed: SEED, numRuns: 100 },
    );
  }
  t.pass();
});

test('--codec and --dirty refuse anything but their choices with a usage error naming the option.', (t) => {
  for (const [flag, choices] of [['--codec', ['auto', 'native', 'portable']], ['--dirty', ['auto', 'hash']]] as const) {
    fc.assert(
      fc.property(anyValue, (value) => {
        const p = parse(['run', 'job.mjs', `${flag}=${value}`]);
        if ((choices as readonly string[]).includes(value)) return;
        const problem = usageProblem(p, flag);
        if (problem) throw new Error(`${flag} ${JSON.stringify(value)}: ${problem}`);
      }),
      { seed: SEED, numRuns: 100 },
    );
  }
  t.pass();
});

// A sample of the same values through the real process: cli.ts turns them into exit 2.
const SAMPLE = [
  ...fc.sample(
    fc.tuple(fc.constantFrom(...SECONDS.map((s) => s.flag), ...COUNTS.map((c) => c.flag)), anyValue.filter((v) => !decimal(v) && !v.includes('\0'))),
    { seed: SEED, numRuns: 6 },
  ),
  ['--interval', '1e306'],
  ['--retries', ''],
  ['--args', '{"a":\n1'],
] as [string, string][];

for (const [i, [flag, value]] of SAMPLE.entries()) {
  test(`The real CLI answers a malformed option value with exit 2, one line naming the option, and no store (sample ${i + 1}).`, async (t) => {
    const dir = tempDir(t, 'args');
    const store = path.join(dir, 'store');
    const run = await runCli(t, ['run', COUNTER, '--store', store, `${flag}=${value}`]);
    t.is(run.code, 2, `seed ${SEED}: ${flag} ${JSON.stringify(value)}\n${show(run)}`);
    t.is(run.stdout, '');
    const lines = run.stderr.split('\n').filter((l) => l !== '');
    t.regex(lines[0] ?? '', new RegExp(`^error: option '${flag} <[^>]+>' argument '.*' is invalid\\. `), `seed ${SEED}: ${JSON.stringify(run.stderr)}`);
    t.is(lines.length, 1, `seed ${SEED}: ${JSON.stringify(run.stderr)}`);
    t.notRegex(run.stderr, STACK_FRAME);
    t.deepEqual(fs.readdirSync(dir), [], 'a usage error creates nothing');
  });
}

test('A malformed value in a CR_* variable is a usage error naming the option it sets.', async (t) => {
  const dir = tempDir(t, 'env');
  for (const [name, flag, value] of [['CR_INTERVAL', '--interval', '0x10'], ['CR_RETRIES', '--retries', ' 3'], ['CR_KEEP', '--keep', '']] as const) {
    const run = await runCli(t, ['run', COUNTER, '--store', path.join(dir, 'store')], { [name]: value });
    t.is(run.code, 2, show(run));
    t.regex(run.stderr, new RegExp(`^error: option '${flag} <[^>]+>' value '.*' from env '${name}' is invalid\\. .+\n$`), name);
    t.notRegex(run.stderr, STACK_FRAME);
  }
  t.deepEqual(fs.readdirSync(dir), []);
});

// An empty --store used to mean the current directory: the store's key and job directories
// appeared wherever the command was run. Run from an empty directory, so that would show.
test('An empty --store or CR_STORE is a usage error and creates nothing in the current directory.', (t) => {
  for (const [args, env] of [[['--store', ''], {}], [[], { CR_STORE: '' }]] as const) {
    const cwd = tempDir(t, 'cwd');
    const run = spawnSync(process.execPath, [CLI, 'run', COUNTER, ...args], { cwd, env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 60_000 });
    t.is(run.status, 2, run.stderr);
    t.regex(run.stderr, /^error: option '--store <dir>' (argument ''|value '' from env 'CR_STORE') is invalid\. --store must not be empty\n$/);
    t.deepEqual(fs.readdirSync(cwd), []);
  }
});
