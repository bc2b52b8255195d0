// `submit` sends a job as one module: esbuild bundles the job file and everything it imports
// (relative files and npm packages alike), leaving `cr` (this package, present on every agent)
// and Node's built-in modules as imports. So a job split across files runs on any node.
//
// A module the job only names as a URL, `new URL('./member.mjs', import.meta.url)` (the members
// of a cr.team, a Worker's file), is not an import, so esbuild neither follows nor bundles it;
// and inside the bundle, import.meta.url is the bundle's own location on the agent. So each such
// reference to a module file (outside node_modules) is bundled as a module of its own, the
// reference is rewritten to name that module beside the bundle, and the job travels as a code
// pack (code-pack.ts) that the agent unpacks into one directory, where the URL resolves.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { fromEsbuild, JOB_BUILD_OPTIONS, noDefaultExport } from '../src/internal.js';
import { BundleError } from './cluster-errors.js';
import { encodePack, JOB_MODULE, type CodeFile } from './code-pack.js';

export { BundleError };

// A relative module path as the first argument of `new URL(..., import.meta.url)`, in quotes.
export const MODULE_URL = /new\s+URL\(\s*(['"])(\.{1,2}\/[^'"\n]+?\.(?:[cm]?js|[cm]?ts))\1\s*,\s*import\.meta\.url\s*\)/g;

export async function bundleJob(file: string): Promise<Buffer> {
  const entry = path.resolve(file);
  // Module file → its name in the pack. The job itself is JOB_MODULE, so a member that names the
  // job's own file gets the job's bundle.
  const names = new Map<string, string>([[entry, JOB_MODULE]]);
  const pending: string[] = [];
  const plugin: Plugin = {
    name: 'cr-module-urls',
    setup(b) {
      b.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
        if (args.path.split(path.sep).includes('node_modules')) return undefined;
        const source = fs.readFileSync(args.path, 'utf8');
        let changed = false;
        const contents = source.replace(MODULE_URL, (whole, _quote: string, relative: string) => {
          const target = path.resolve(path.dirname(args.path), relative);
          if (!fs.statSync(target, { throwIfNoEntry: false })?.isFile()) return whole;
          let name = names.get(target);
          if (name === undefined) {
            name = uniqueName(target, new Set(names.values()));
            names.set(target, name);
            pending.push(target);
          }
          changed = true;
          return `new URL(${JSON.stringify(`./${name}`)}, import.meta.url)`;
        });
        if (!changed) return undefined;
        return { contents, loader: /\.[cm]?ts$/.test(args.path) ? 'ts' : 'js', resolveDir: path.dirname(args.path) };
      });
    },
  };
  const files: CodeFile[] = [{ name: JOB_MODULE, bytes: await bundleOne(file, entry, plugin, true) }];
  // Members may name further modules; each is bundled once. (They are not all team members with
  // a default export: a Worker's file is named the same way.)
  while (pending.length > 0) {
    const target = pending.shift()!;
    files.push({ name: names.get(target)!, bytes: await bundleOne(file, target, plugin, false) });
  }
  // A job without such references travels as the plain bundle, as before packs existed.
  return files.length === 1 ? files[0]!.bytes : encodePack(files);
}

/** `member.ts` → `member.mjs`, or `member-2.mjs` when another module already has that name. */
function uniqueName(file: string, taken: Set<string>): string {
  const base = path.basename(file).replace(/\.[cm]?[jt]s$/, '').replace(/[^A-Za-z0-9._-]/g, '_') || 'module';
  for (let i = 1; ; i++) {
    const name = i === 1 ? `${base}.mjs` : `${base}-${i}.mjs`;
    if (!taken.has(name)) return name;
  }
}

export { JOB_BUILD_OPTIONS };

/**
 * One module and what it imports, as one ES module. A syntax error, an import that cannot be
 * resolved, or a job without a default export is the user's to fix: a JobFileError naming their file, line
 * and column, before anything reaches the cluster (where each attempt would fail the same way).
 */
async function bundleOne(job: string, entry: string, plugin: Plugin, isJob: boolean): Promise<Buffer> {
  let result;
  try {
    result = await build({
      entryPoints: [entry],
      ...JOB_BUILD_OPTIONS,
      legalComments: 'none',
      plugins: [plugin],
      metafile: true,
      // Keeps `import.meta.url`-free code unchanged and error stacks readable: the agent's Node
      // maps a stack through this map, and the sources, relative to this directory under this
      // root, name the user's files (/home/ada/proj/job.ts:12:5), not the bundle on the agent.
      sourcemap: 'inline',
      sourcesContent: false,
      sourceRoot: `${pathToFileURL(process.cwd()).href}/`,
    });
  } catch (err) {
    throw esbuildFailure(err, entry, `cannot bundle ${entry === path.resolve(job) ? job : `${job} (its module ${path.relative(process.cwd(), entry)})`}`);
  }
  const output = Object.values(result.metafile.outputs).find((o) => o.entryPoint !== undefined);
  if (isJob && output && !output.exports.includes('default')) throw noDefaultExport(entry, 'job');
  return Buffer.from(result.outputFiles[0]!.contents);
}

type EsbuildMessage = Parameters<typeof fromEsbuild>[1];

/**
 * An esbuild failure of `entry` as the user's error: a JobFileError at the place it names (a
 * syntax error, an import not found), else a BundleError saying `what` failed.
 */
export function esbuildFailure(err: unknown, entry: string, what: string): unknown {
  const errors = (err as { errors?: EsbuildMessage[] }).errors;
  if (!errors || errors.length === 0) return err;
  const first = errors.find((e) => e.location) ?? errors[0]!;
  if (first.location) return fromEsbuild(entry, first);
  return new BundleError(`${what}: ${first.text}`);
}
