// bundleJob: one module for a job, or a code pack when it names member modules by URL.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { JobFileError } from '../../src/index.js';
import { bundleJob } from '../../scheduler/bundle.js';
import { decodePack, isPack, JOB_MODULE } from '../../scheduler/code-pack.js';
import { EXAMPLES, tempDir } from '../runner/helpers.js';
import { CLUSTER_JOB } from './helpers.js';

test('a job without member modules is one plain bundle', async (t) => {
  t.false(isPack(await bundleJob(CLUSTER_JOB)));
});

test('heat2d-team is packed with its member module, and the job names it beside itself', async (t) => {
  const files = decodePack(await bundleJob(path.join(EXAMPLES, 'heat2d-team.mjs')));
  t.deepEqual(files.map((f) => f.name), [JOB_MODULE, 'heat2d-team-member.mjs']);
  t.regex(files[0]!.bytes.toString(), /new URL\("\.\/heat2d-team-member\.mjs", import\.meta\.url\)/);
  // Both are whole bundles: heat2d.mjs, which both import, is inside each.
  for (const f of files) t.notRegex(f.bytes.toString(), /from ["']\.\/heat2d\.mjs["']/, f.name);
});

test('member modules from other directories get distinct names, and a member naming a further module brings it too', async (t) => {
  const dir = tempDir(t, 'bundle');
  fs.mkdirSync(path.join(dir, 'a'));
  fs.mkdirSync(path.join(dir, 'b'));
  fs.writeFileSync(path.join(dir, 'job.mjs'), `export default async (cr) => [new URL('./a/m.mjs', import.meta.url), new URL("./b/m.ts", import.meta.url), new URL('./missing.mjs', import.meta.url)];\n`);
  fs.writeFileSync(path.join(dir, 'a', 'm.mjs'), `export const next = new URL('../b/m.ts', import.meta.url); export const deeper = new URL('./n.mjs', import.meta.url);\n`);
  fs.writeFileSync(path.join(dir, 'a', 'n.mjs'), `export default 1;\n`);
  fs.writeFileSync(path.join(dir, 'b', 'm.ts'), `export const x: number = 2;\n`);
  const files = decodePack(await bundleJob(path.join(dir, 'job.mjs')));
  t.deepEqual(files.map((f) => f.name), [JOB_MODULE, 'm.mjs', 'm-2.mjs', 'n.mjs']);
  const job = files[0]!.bytes.toString();
  t.regex(job, /new URL\("\.\/m\.mjs", import\.meta\.url\)/);
  t.regex(job, /new URL\("\.\/m-2\.mjs", import\.meta\.url\)/);
  // A URL to no file is left as written.
  t.regex(job, /new URL\(["']\.\/missing\.mjs["'], import\.meta\.url\)/);
  t.regex(files[1]!.bytes.toString(), /new URL\("\.\/m-2\.mjs", import\.meta\.url\)/);
  t.notRegex(files[2]!.bytes.toString(), /: number/, 'the TypeScript member is compiled');
});

test('a TypeScript job bundles with its types stripped, and its source map names the user\'s files for the agent', async (t) => {
  const dir = tempDir(t, 'bundle-ts');
  fs.writeFileSync(path.join(dir, 'job.ts'), "import { two } from './two.js';\nexport default async function (cr: unknown, args: { n: number }): Promise<number> {\n  return two() * args.n;\n}\n");
  fs.writeFileSync(path.join(dir, 'two.ts'), 'export const two = (): number => 2;\n');
  const code = (await bundleJob(path.join(dir, 'job.ts'))).toString();
  t.notRegex(code, /: Promise<number>/);
  const map = JSON.parse(Buffer.from(/sourceMappingURL=data:application\/json;base64,(\S+)/.exec(code)![1]!, 'base64').toString()) as { sourceRoot: string; sources: string[] };
  // Node resolves each source against the root: the files as they are on the submitting machine.
  const files = map.sources.map((s) => fileURLToPath(new URL(s, map.sourceRoot))).sort();
  t.deepEqual(files, [path.join(dir, 'job.ts'), path.join(dir, 'two.ts')]);
});

test('a syntax error, an import not found or no default export is a JobFileError with the place, before anything is sent', async (t) => {
  const dir = tempDir(t, 'bundle-bad');
  const bad = path.join(dir, 'bad.ts');
  fs.writeFileSync(bad, 'export default async function () {\n  return 1 +;\n}\n');
  const syntax = await t.throwsAsync(bundleJob(bad), { instanceOf: JobFileError });
  t.is(syntax.code, 'CR_JOB_FILE');
  t.like(syntax.location, { file: bad, line: 2, column: 13 });

  const missing = path.join(dir, 'missing.mjs');
  fs.writeFileSync(missing, "import x from 'no-such-package-for-cr';\nexport default async () => x;\n");
  const notFound = await t.throwsAsync(bundleJob(missing), { instanceOf: JobFileError });
  t.is(notFound.code, 'CR_JOB_FILE');
  t.like(notFound.location, { file: missing, line: 1, column: 15 });
  t.regex(notFound.message, /Cannot find module "no-such-package-for-cr"/);

  const nodefault = path.join(dir, 'nodefault.mjs');
  fs.writeFileSync(nodefault, 'export async function job() {}\n');
  const noDefault = await t.throwsAsync(bundleJob(nodefault), { instanceOf: JobFileError });
  t.is(noDefault.code, 'CR_JOB_FILE');
  t.is(noDefault.message, `${nodefault}: has no default export function: a job is "export default async function (cr, args) { ... }"`);
});
