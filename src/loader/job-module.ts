// Loading a job's module (or a team member's) in the thread that runs it: TypeScript through
// ts-hooks.ts, stack traces through source maps (a .ts file's, a cluster bundle's), and a module
// that cannot be a job — a syntax error, an import that cannot be found, no default export
// function — as one JobFileError naming the user's file, line and column with a code frame.
import fs from 'node:fs';
import { register } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';
import { JobFileError, type SourceLocation } from '../errors.js';
import { PACKAGE_NAME } from '../version.js';

const TYPESCRIPT = /\.m?ts$/;
/** Node's codes for a module that cannot be found or loaded as one. */
const LOAD_CODES = new Set(['ERR_MODULE_NOT_FOUND', 'ERR_UNSUPPORTED_DIR_IMPORT', 'ERR_UNKNOWN_FILE_EXTENSION', 'ERR_PACKAGE_PATH_NOT_EXPORTED']);

let typescript = false;

/**
 * Imports the module at `url` (a file: URL) and returns its default export, which must be a
 * function. `kind` names what the module is for in the message ("job", "team member").
 */
export async function importJobModule(url: string, kind: string): Promise<(...args: never[]) => unknown> {
  // Per thread; a no-op when already on. Without it, stacks name the bundle or the stripped code.
  process.setSourceMapsEnabled(true);
  if (!typescript && TYPESCRIPT.test(new URL(url).pathname)) {
    register(new URL('./ts-hooks.js', import.meta.url));
    typescript = true;
  }
  let module: { default?: unknown };
  try {
    module = (await import(url)) as { default?: unknown };
  } catch (err) {
    throw (await diagnose(url, err)) ?? err;
  }
  if (typeof module.default !== 'function') {
    throw noDefaultExport(fileURLToPath(url), kind);
  }
  return module.default as (...args: never[]) => unknown;
}

/** The job's module exports no default function (found as it loads, or by `submit` as it bundles). */
export function noDefaultExport(file: string, kind: string): JobFileError {
  return new JobFileError(display(file), `has no default export function: a ${kind} is "export default async function (cr, args) { ... }"`);
}

/** How a job module is bundled (`submit`) and read (`run`'s diagnosis): one ES module for Node, the cr package left as an import (every agent has it). */
export const JOB_BUILD_OPTIONS = {
  bundle: true,
  write: false,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: [PACKAGE_NAME, `${PACKAGE_NAME}/*`],
  logLevel: 'silent',
} as const satisfies BuildOptions;

export interface EsbuildMessage {
  text: string;
  location: { file: string; line: number; column: number; lineText: string } | null;
}

/** A JobFileError for an error of loading, or null when the error is not about the module's files. */
async function diagnose(url: string, err: unknown): Promise<JobFileError | null> {
  const file = fileURLToPath(url);
  const e = err as Error & { code?: string; errors?: EsbuildMessage[] };
  const syntax = e instanceof SyntaxError || e?.name === 'SyntaxError';
  // A .ts file's syntax error comes from esbuild in the hooks, with its place.
  const fromHooks = Array.isArray(e?.errors) ? e.errors.find((m) => m.location) : undefined;
  if (fromHooks) return fromEsbuild(file, fromHooks, 'SyntaxError: ');
  if (!syntax && !(e?.code !== undefined && LOAD_CODES.has(e.code))) return null;
  // esbuild parses and resolves the same files and says where; Node's errors give no column
  // (a syntax error) or no line (an import not found).
  const found = await esbuildProblem(file);
  if (found) return fromEsbuild(file, found, syntax ? 'SyntaxError: ' : '');
  const where = syntax ? syntaxErrorPlace(e) : null;
  return new JobFileError(display(where?.file ?? file), `${syntax ? 'SyntaxError: ' : ''}${e.message}`, where ? locate(where.file, where.line, where.column) : null);
}

async function esbuildProblem(file: string): Promise<EsbuildMessage | null> {
  try {
    const { build } = await import('esbuild');
    await build({ entryPoints: [file], ...JOB_BUILD_OPTIONS });
    return null;
  } catch (err) {
    const errors = (err as { errors?: EsbuildMessage[] }).errors ?? [];
    // A package's own oddities are not what failed the job's import.
    return errors.find((m) => m.location && !m.location.file.split(/[\\/]/).includes('node_modules')) ?? null;
  }
}

/** A JobFileError at the place of an esbuild error (a syntax error, an import it cannot resolve). */
export function fromEsbuild(entry: string, message: EsbuildMessage, prefix = ''): JobFileError {
  const l = message.location!;
  const file = path.resolve(l.file);
  // esbuild counts columns in bytes from 0; people count characters from 1.
  const column = Buffer.from(l.lineText).subarray(0, l.column).toString('utf8').length + 1;
  // "Could not resolve" is esbuild's word for what Node calls not finding a module.
  const text = message.text.replace(/^Could not resolve ("[^"]+")$/, 'Cannot find module $1');
  return new JobFileError(display(entry), `${prefix}${text}`, locate(file, l.line, column));
}

/** Node puts a syntax error's place at the head of its stack: `file:///x.mjs:3`, the line, a caret. */
function syntaxErrorPlace(err: Error): { file: string; line: number; column: number } | null {
  const head = /^(file:\/\/\S+?):(\d+)\n([^\n]*)\n( *)\^/.exec(err.stack ?? '');
  if (!head) return null;
  return { file: fileURLToPath(head[1]!), line: Number(head[2]), column: head[4]!.length + 1 };
}

/** The place with a code frame: two lines before, the line with a caret under the column, one after. */
export function locate(file: string, line: number, column: number): SourceLocation {
  let lines: string[] = [];
  try {
    lines = fs.readFileSync(file, 'utf8').split(/\r?\n/);
    if (lines.at(-1) === '') lines.pop();
  } catch {
    // Gone since it failed to load: the place alone still helps.
  }
  const first = Math.max(1, line - 2);
  const last = Math.min(lines.length, line + 1);
  const width = String(last).length;
  const frame: string[] = [];
  for (let n = first; n <= last; n++) {
    const text = lines[n - 1]!;
    frame.push(`${n === line ? '>' : ' '} ${String(n).padStart(width)} | ${shown(text)}`.trimEnd());
    if (n === line) frame.push(`  ${' '.repeat(width)} | ${shown(text.slice(0, column - 1)).replace(/[^\t]/g, ' ')}^`);
  }
  return { file: display(file), line, column, frame: frame.join('\n') };
}

/** A control character in the source (an escape in a string) is shown, not sent to the terminal. */
function shown(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** A path as the user would write it: relative to the current directory when inside it. */
function display(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}
