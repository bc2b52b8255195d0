// Job code on an agent: the bundle the scheduler holds, cached by its sha256 under
// <work>/code/. The bundle leaves `import ... from 'cr'` as it was written; a link
// <work>/code/node_modules/cr → this package lets Node's own resolution find it, and since Node
// resolves the link to its real path, the job gets the very module instance the runner's
// worker binds to the running job (the `cr` that `import { cr } from 'cr'` returns).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unary, type SchedulerClient } from '../proto/load.js';

/** The root of this package: from dist/scheduler/agent/ (or scheduler/agent/) up to package.json. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function linkPackage(codeDir: string): void {
  const modules = path.join(codeDir, 'node_modules');
  const link = path.join(modules, 'cr');
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

/** The job's module file, fetched once per sha256 and checked against it. */
export async function fetchCode(client: SchedulerClient, codeDir: string, sha256: string): Promise<string> {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
  const file = path.join(codeDir, `${sha256}.mjs`);
  if (fs.existsSync(file)) return file;
  const { code } = await unary(client, 'GetCode', { sha256 });
  const got = createHash('sha256').update(code as Buffer).digest('hex');
  if (got !== sha256) throw new Error(`the job's code arrived damaged (sha256 ${got}, expected ${sha256})`);
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, code as Buffer);
  fs.renameSync(temp, file);
  return file;
}
