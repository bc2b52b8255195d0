// Job modules as `cr-scheduler run` loads them: TypeScript directly (types stripped, errors
// pointing into the .ts file), and a module that cannot be a job — a syntax error, an import not
// found, no default export — failing once, not retried, with its file, line, column and code frame.
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { JobFileError } from '../../src/index.js';
import { locate } from '../../src/loader/job-module.js';
import { runCli, show, STACK_FRAME, tempDir } from '../runner/helpers.js';

/** Writes `files` (name → text) into a new directory; returns the directory. */
function project(t: ExecutionContext, files: Record<string, string>): string {
  const dir = tempDir(t, 'job-module');
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

const TS_JOB = `import { double } from './helper.js';
import type { Cr } from 'cr-checkpoint';

interface Args { n?: number; fail?: boolean }

export default async function job(cr: Cr, { n = 5, fail = false }: Args = {}): Promise<{ total: number }> {
  const s = cr.state('s', { i: 0, total: 0 });
  for (; s.i < n; s.i++) {
    s.total += double(s.i);
    await cr.checkpoint();
  }
  if (fail) throw new Error('planned failure');
  return { total: s.total };
}
`;
const TS_HELPER = 'export function double(i: number): number {\n  return i * 2;\n}\n';

test('A TypeScript job runs directly, importing a .ts helper by its .js name, and checkpoints.', async (t) => {
  const dir = project(t, { 'job.ts': TS_JOB, 'helper.ts': TS_HELPER });
  const run = await runCli(t, ['run', path.join(dir, 'job.ts'), '--store', path.join(dir, 'store'), '--args', '{"n": 5}', '--every', '2']);
  t.is(run.code, 0, show(run));
  t.deepEqual(JSON.parse(run.stdout), { total: 20 });
  t.true(fs.readdirSync(path.join(dir, 'store', 'job')).some((f) => f.endsWith('.crimg')));
});

test("A TypeScript job's runtime error points into the .ts file, at the line and column of the throw.", async (t) => {
  const dir = project(t, { 'job.ts': TS_JOB, 'helper.ts': TS_HELPER });
  const run = await runCli(t, ['-v', 'run', path.join(dir, 'job.ts'), '--store', path.join(dir, 'store'), '--args', '{"fail": true}', '--retries', '0']);
  t.is(run.code, 1, show(run));
  t.regex(run.stderr, /^job "job" failed after 1 attempt: planned failure$/m);
  t.true(run.stderr.includes(`at job (${path.join(dir, 'job.ts')}:12:19)`), run.stderr);
});

/**
 * `early`: found as `run` reads the job's code (esbuild parses and resolves it) and said as the
 * command's error; else found as the job's thread loads it and said as the run's failure.
 */
const CASES: { what: string; files: Record<string, string>; job: string; early: boolean; message: (dir: string) => string[] }[] = [
  {
    what: 'A syntax error in a JavaScript job',
    files: { 'bad.mjs': 'const a = 1;\n\nexport default async function (cr) {\n  let x = ;\n}\n' },
    job: 'bad.mjs',
    early: true,
    message: (dir) => [
      `${path.join(dir, 'bad.mjs')}:4:11: SyntaxError: Unexpected ";"`,
      '  2 |',
      '  3 | export default async function (cr) {',
      '> 4 |   let x = ;',
      '    |           ^',
      '  5 | }',
    ],
  },
  {
    what: 'A syntax error in a TypeScript job',
    files: { 'bad.ts': 'const a: number = 1;\nexport default async function (cr: unknown): Promise<void> {\n\tlet x: number = ;\n}\n' },
    job: 'bad.ts',
    early: true,
    message: (dir) => [
      `${path.join(dir, 'bad.ts')}:3:18: SyntaxError: Unexpected ";"`,
      '  1 | const a: number = 1;',
      '  2 | export default async function (cr: unknown): Promise<void> {',
      '> 3 | \tlet x: number = ;',
      '    | \t                ^',
      '  4 | }',
    ],
  },
  {
    what: 'A syntax error in a module the job imports',
    files: { 'job.mjs': "import { f } from './lib.mjs';\nexport default async () => f();\n", 'lib.mjs': 'export function f() {\n  return (1 + ;\n}\n' },
    job: 'job.mjs',
    early: true,
    message: (dir) => [`${path.join(dir, 'lib.mjs')}:2:15: SyntaxError: Unexpected ";"`, '  1 | export function f() {', '> 2 |   return (1 + ;', '    |               ^', '  3 | }'],
  },
  {
    what: 'A package that cannot be found',
    files: { 'job.mjs': "import fs from 'node:fs';\nimport { thing } from 'no-such-package-for-cr';\nexport default async () => thing;\n" },
    job: 'job.mjs',
    early: true,
    message: (dir) => [
      `${path.join(dir, 'job.mjs')}:2:23: Cannot find module "no-such-package-for-cr"`,
      "  1 | import fs from 'node:fs';",
      "> 2 | import { thing } from 'no-such-package-for-cr';",
      '    |                       ^',
      '  3 | export default async () => thing;',
    ],
  },
  {
    what: 'A missing relative module',
    files: { 'job.mjs': "import { x } from './gone.mjs';\nexport default async () => x;\n" },
    job: 'job.mjs',
    early: true,
    message: (dir) => [`${path.join(dir, 'job.mjs')}:1:19: Cannot find module "./gone.mjs"`, "> 1 | import { x } from './gone.mjs';", '    |                   ^', '  2 | export default async () => x;'],
  },
  {
    what: 'A module without a default export',
    files: { 'job.mjs': 'export async function job() {}\n' },
    job: 'job.mjs',
    early: false,
    message: (dir) => [`${path.join(dir, 'job.mjs')}: has no default export function: a job is "export default async function (cr, args) { ... }"`],
  },
];

for (const { what, files, job, early, message } of CASES) {
  test(`${what} fails at once, not retried, with the file, line, column and a code frame.`, async (t) => {
    const dir = project(t, files);
    const run = await runCli(t, ['run', path.join(dir, job), '--store', path.join(dir, 'store'), '--retries', '3', '--retry-delay', '0']);
    t.is(run.code, 1, show(run));
    t.is(run.stdout, '');
    const name = job.replace(/\.[cm]?[jt]s$/, '');
    const said = message(dir).join('\n');
    t.is(run.stderr, early ? `cr-scheduler: ${said.replace(': SyntaxError: ', ': ')}\n` : `job "${name}" failed after 1 attempt: ${said}\n`);
    t.notRegex(run.stderr, STACK_FRAME);
    t.notRegex(run.stderr, /restarting/);
  });
}

test('JobFileError carries the code CR_JOB_FILE and the place; the frame marks the line and column.', (t) => {
  const dir = tempDir(t, 'frame');
  const file = path.join(dir, 'x.mjs');
  fs.writeFileSync(file, 'a\nb\nccc\nd\ne\n');
  const where = locate(file, 3, 2);
  const err = new JobFileError(file, 'something', where);
  t.is(err.code, 'CR_JOB_FILE');
  t.is(err.file, file);
  t.deepEqual(err.location, { file, line: 3, column: 2, frame: '  1 | a\n  2 | b\n> 3 | ccc\n    |  ^\n  4 | d' });
  t.is(err.message, `${file}:3:2: something\n  1 | a\n  2 | b\n> 3 | ccc\n    |  ^\n  4 | d`);

  // A control character in the source is shown escaped, and the caret still stands under the column.
  fs.writeFileSync(file, 'let a = "\u001b[2J"; let b = ;\n');
  t.is(locate(file, 1, 25).frame, '> 1 | let a = "\\x1b[2J"; let b = ;\n    |                            ^');
});
