// Node module hooks (registered by job-module.ts with node:module's register) that let a job and
// the files it imports be TypeScript: esbuild strips the types of each .ts/.mts file as Node loads
// it, with an inline source map, so that stack traces and errors point into the .ts file.
// No type checking happens here: that is the editor's and tsc's job.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const TYPESCRIPT = /\.m?ts$/;

interface ResolveContext {
  parentURL?: string;
}
type NextResolve = (specifier: string, context: ResolveContext) => Promise<{ url: string }>;
type NextLoad = (url: string, context: unknown) => Promise<unknown>;

export async function resolve(specifier: string, context: ResolveContext, nextResolve: NextResolve): Promise<unknown> {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    // TypeScript's convention for ES modules: `import './util.js'` in a .ts file names util.ts.
    const fromTs = context.parentURL !== undefined && TYPESCRIPT.test(new URL(context.parentURL).pathname);
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND' || !fromTs || !/^\.{1,2}\/.*\.m?js$/.test(specifier)) throw err;
    try {
      return await nextResolve(specifier.replace(/js$/, 'ts'), context);
    } catch {
      throw err;
    }
  }
}

export async function load(url: string, context: unknown, nextLoad: NextLoad): Promise<unknown> {
  if (!url.startsWith('file:') || !TYPESCRIPT.test(new URL(url).pathname)) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const { transform } = await import('esbuild');
  const out = await transform(await readFile(file, 'utf8'), {
    loader: 'ts',
    format: 'esm',
    target: 'node20',
    sourcemap: 'inline',
    sourcefile: file,
    sourcesContent: false,
  });
  return { format: 'module', source: out.code, shortCircuit: true };
}
