// Job code on an agent: the bundle the scheduler holds, cached by its sha256 under
// <work>/code/. The bundle leaves `import ... from 'cr-checkpoint'` as it was written; a link
// <work>/code/node_modules/cr-checkpoint → this package lets Node's own resolution find it, and
// since Node resolves the link to its real path, the job gets the very module instance the
// runner's worker binds to the running job (the `cr` that `import { cr } from 'cr-checkpoint'` returns).
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFileOnceSync, fsyncDirSync, PACKAGE_NAME } from '../../src/internal.js';
import { decodePack, isPack, JOB_MODULE, type CodeFile } from '../code-pack.js';
import { unary, type SchedulerClient } from '../proto/load.js';

/** The root of this package: from dist/scheduler/agent/ (or scheduler/agent/) up to package.json. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function linkPackage(codeDir: string): void {
  const modules = path.join(codeDir, 'node_modules');
  const link = path.join(modules, PACKAGE_NAME);
  fs.mkdirSync(modules, { recursive: true });
  try {
    if (fs.realpathSync(link) === fs.realpathSync(PACKAGE_ROOT)) return;
    fs.rmSync(link, { force: true, recursive: false });
  } catch {
    // missing or dangling: (re)create it
    fs.rmSync(link, { force: true });
  }
  fs.symlinkSync(PACKAGE_ROOT, link, 'dir');
}

/**
 * The job's module file, fetched once per sha256 and checked against it. A code pack (a job with
 * member modules) is unpacked into <codeDir>/<sha256>/, so that the members sit beside the job's
 * module, where its `new URL('./member.mjs', import.meta.url)` points.
 */
export async function fetchCode(client: SchedulerClient, codeDir: string, sha256: string): Promise<string> {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
  const file = path.join(codeDir, `${sha256}.mjs`);
  const packed = path.join(codeDir, sha256, JOB_MODULE);
  if (fs.existsSync(file)) return file;
  if (fs.existsSync(packed)) return packed;
  const { code } = await unary(client, 'GetCode', { sha256 });
  const got = createHash('sha256').update(code as Buffer).digest('hex');
  if (got !== sha256) throw new Error(`the job's code arrived damaged (sha256 ${got}, expected ${sha256})`);
  if (isPack(code as Buffer)) {
    writePack(path.join(codeDir, sha256), decodePack(code as Buffer));
    return packed;
  }
  // Whole or not at all, also across a crash of the agent or the machine: temp file, fsync, link,
  // fsync of the directory. A cached file is trusted by its name alone, so a torn one would run
  // as this job's code. If another slot cached it first, theirs is the same bytes.
  createFileOnceSync(file, code as Buffer, 0o644);
  return file;
}

// The directory appears whole or not at all (files written and synced in a temporary directory,
// renamed into place), so a cached pack is never missing a member after a crash of the agent.
function writePack(dir: string, files: CodeFile[]): void {
  // Unique per call: two slots of this agent may unpack the same code at once.
  const temp = `${dir}.${process.pid}.${randomUUID()}.tmp`;
  fs.mkdirSync(temp);
  for (const f of files) {
    const fd = fs.openSync(path.join(temp, f.name), 'wx');
    try {
      fs.writeFileSync(fd, f.bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
  fsyncDirSync(temp);
  try {
    fs.renameSync(temp, dir);
  } catch (err) {
    // Another attempt on this node unpacked the same code first: theirs is as good.
    fs.rmSync(temp, { recursive: true, force: true });
    if (!fs.existsSync(path.join(dir, JOB_MODULE))) throw err;
  }
  fsyncDirSync(path.dirname(dir));
}
