// The code identity `run` records in a job's images: the job file and every file of the project
// it imports, or names as a module (`new URL('./member.mjs', import.meta.url)`, which `submit`
// bundles too), each hashed and named relative to the job file's directory. esbuild resolves the
// imports as the bundler does. Packages under node_modules are left out: they change with
// installs, not with the job.
import fs from 'node:fs';
import path from 'node:path';
import { build, type Plugin } from 'esbuild';
import { type CodeIdentity, codeOfFiles, sha256Hex } from '../src/internal.js';
import { esbuildFailure, JOB_BUILD_OPTIONS, MODULE_URL } from './bundle.js';

export async function codeIdentity(jobFile: string): Promise<CodeIdentity> {
  const entry = path.resolve(jobFile);
  const pending = [entry];
  const named = new Set(pending);
  const sources = new Set<string>();
  const plugin: Plugin = {
    name: 'cr-identity-module-urls',
    setup(b) {
      b.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
        if (args.path.split(path.sep).includes('node_modules')) return undefined;
        for (const match of fs.readFileSync(args.path, 'utf8').matchAll(MODULE_URL)) {
          const target = path.resolve(path.dirname(args.path), match[2]!);
          if (named.has(target) || !fs.statSync(target, { throwIfNoEntry: false })?.isFile()) continue;
          named.add(target);
          pending.push(target);
        }
        return undefined; // loaded as esbuild would
      });
    },
  };
  while (pending.length > 0) {
    const module = pending.shift()!;
    try {
      const result = await build({ entryPoints: [module], ...JOB_BUILD_OPTIONS, metafile: true, plugins: [plugin] });
      for (const input of Object.keys(result.metafile.inputs)) sources.add(path.resolve(input));
    } catch (err) {
      // A syntax error or an import not found: the user's file, line, column and code frame.
      throw esbuildFailure(err, module, `cannot read the code of ${jobFile}`);
    }
  }
  const base = path.dirname(entry);
  const files: Record<string, string> = {};
  for (const file of sources) {
    if (file.split(path.sep).includes('node_modules')) continue;
    files[path.relative(base, file).split(path.sep).join('/')] = sha256Hex(fs.readFileSync(file));
  }
  return codeOfFiles(files);
}
