// A job's code is one module, or a pack of modules when the job starts worker threads on other
// modules of its own (`cr.team(n, new URL('./member.mjs', import.meta.url), ...)`). The pack
// travels in the same `code` bytes as a single module, so the scheduler stays agnostic: it
// stores and hashes the bytes either way. Layout: the line `//cr-code-pack 1 <manifest JSON>\n`,
// then the files' bytes back to back in manifest order; the first file is the job's module.
// esbuild's output never starts with that line (it drops comments, legalComments: 'none'), so
// a bundle of one module and a pack cannot be confused.

const MAGIC = '//cr-code-pack 1 ';
/** The job module's name in a pack (the first file). */
export const JOB_MODULE = 'job.mjs';
/** A file name inside a pack: one path segment, so no file can land outside the pack's directory. */
const NAME = /^[A-Za-z0-9._-]+$/;

export interface CodeFile {
  name: string;
  bytes: Buffer;
}

export function isPack(code: Buffer): boolean {
  return code.subarray(0, MAGIC.length).toString('latin1') === MAGIC;
}

export function encodePack(files: CodeFile[]): Buffer {
  if (files.length === 0) throw new RangeError('a code pack needs at least the job module');
  if (files[0]!.name !== JOB_MODULE) throw new RangeError(`the first file of a code pack is ${JOB_MODULE}`);
  for (const f of files) checkName(f.name);
  const manifest = files.map((f) => ({ name: f.name, bytes: f.bytes.length }));
  return Buffer.concat([Buffer.from(`${MAGIC}${JSON.stringify(manifest)}\n`), ...files.map((f) => f.bytes)]);
}

/** The files of a pack; throws when it is damaged (a manifest that does not match the bytes). */
export function decodePack(code: Buffer): CodeFile[] {
  if (!isPack(code)) throw new Error('not a code pack');
  const eol = code.indexOf(0x0a);
  if (eol < 0) throw new Error('damaged code pack: no manifest line');
  let manifest: unknown;
  try {
    manifest = JSON.parse(code.subarray(MAGIC.length, eol).toString('utf8'));
  } catch {
    throw new Error('damaged code pack: the manifest is not JSON');
  }
  if (!Array.isArray(manifest) || manifest.length === 0) throw new Error('damaged code pack: the manifest lists no files');
  if ((manifest[0] as { name?: unknown } | null)?.name !== JOB_MODULE) throw new Error(`damaged code pack: the first file is not ${JOB_MODULE}`);
  const files: CodeFile[] = [];
  const names = new Set<string>();
  let at = eol + 1;
  for (const entry of manifest as { name?: unknown; bytes?: unknown }[]) {
    const { name, bytes } = entry ?? {};
    if (typeof name !== 'string' || !Number.isSafeInteger(bytes) || (bytes as number) < 0) throw new Error('damaged code pack: a manifest entry is not {name, bytes}');
    checkName(name);
    if (names.has(name)) throw new Error(`damaged code pack: ${name} is listed twice`);
    names.add(name);
    if (at + (bytes as number) > code.length) throw new Error(`damaged code pack: ${name} is cut short`);
    files.push({ name, bytes: code.subarray(at, at + (bytes as number)) });
    at += bytes as number;
  }
  if (at !== code.length) throw new Error('damaged code pack: bytes after the last file');
  return files;
}

function checkName(name: string): void {
  if (!NAME.test(name) || name === '.' || name === '..') throw new Error(`not a file name for a code pack: ${JSON.stringify(name)}`);
}
