// `submit` sends a job as one module: esbuild bundles the job file and everything it imports
// (relative files and npm packages alike), leaving `cr` (this package, present on every agent)
// and Node's built-in modules as imports. So a job split across files runs on any node.
import path from 'node:path';
import { build } from 'esbuild';
import { BundleError } from './cluster-errors.js';

export { BundleError };

export async function bundleJob(file: string): Promise<Buffer> {
  try {
    const result = await build({
      entryPoints: [path.resolve(file)],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      external: ['cr', 'cr/*'],
      logLevel: 'silent',
      legalComments: 'none',
      // Keeps `import.meta.url`-free code unchanged and error stacks readable.
      sourcemap: 'inline',
      sourcesContent: false,
    });
    return Buffer.from(result.outputFiles[0]!.contents);
  } catch (err) {
    const errors = (err as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors;
    if (errors && errors.length > 0) {
      const first = errors[0]!;
      const where = first.location ? `${first.location.file}:${first.location.line}: ` : '';
      throw new BundleError(`cannot bundle ${file}: ${where}${first.text}`);
    }
    throw err;
  }
}
