// The code identity `run` records: the job file and the project files it imports or names as a
// module, each by its hash; packages are left out; code that cannot be parsed is a JobFileError.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { JobFileError } from '../../src/index.js';
import { codeIdentity } from '../../scheduler/code-identity.js';
import { codeOfFiles, sha256Hex } from '../../src/runner/identity.js';

function project(t: { teardown: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-code-identity-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files: Record<string, string> = {
    'job.mjs': "import { a } from './lib/a.mjs';\nimport pkg from 'some-pkg';\nexport default async function (cr) { return { a: a(), pkg, member: new URL('./member.mjs', import.meta.url).href }; }\n",
    'lib/a.mjs': "export const a = () => 1;\n",
    'member.mjs': "import { a } from './lib/a.mjs';\nexport default async function (cr) { return a(); }\n",
    'unused.mjs': 'export const unused = 1;\n',
    'node_modules/some-pkg/package.json': '{"name":"some-pkg","version":"1.0.0","main":"index.js"}',
    'node_modules/some-pkg/index.js': 'module.exports = 42;\n',
  };
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

test('The identity hashes the job file, its imports and the modules it names, by path relative to the job; not packages, not other files.', async (t) => {
  const dir = project(t);
  const identity = await codeIdentity(path.join(dir, 'job.mjs'));
  const hash = (name: string): string => sha256Hex(fs.readFileSync(path.join(dir, name)));
  t.deepEqual(identity.files, { 'job.mjs': hash('job.mjs'), 'lib/a.mjs': hash('lib/a.mjs'), 'member.mjs': hash('member.mjs') });
  t.is(identity.code, codeOfFiles(identity.files!).code);

  fs.writeFileSync(path.join(dir, 'unused.mjs'), 'export const unused = 2;\n');
  fs.writeFileSync(path.join(dir, 'node_modules/some-pkg/index.js'), 'module.exports = 43;\n');
  t.is((await codeIdentity(path.join(dir, 'job.mjs'))).code, identity.code, 'files the job does not import, and packages, do not count');
  fs.appendFileSync(path.join(dir, 'lib/a.mjs'), '// changed\n');
  const changed = await codeIdentity(path.join(dir, 'job.mjs'));
  t.not(changed.code, identity.code);
  t.not(changed.files!['lib/a.mjs'], identity.files!['lib/a.mjs']);
});

test('A job whose code cannot be parsed is a JobFileError naming the file, line and column.', async (t) => {
  const dir = project(t);
  fs.writeFileSync(path.join(dir, 'lib/a.mjs'), 'export const a = (;\n');
  const err = await t.throwsAsync(codeIdentity(path.join(dir, 'job.mjs')), { instanceOf: JobFileError });
  t.is(err?.code, 'CR_JOB_FILE');
  t.like(err?.location, { file: path.join(dir, 'lib/a.mjs'), line: 1, column: 19 });
});
