// bundleJob: one module for a job, or a code pack when it names member modules by URL.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
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
