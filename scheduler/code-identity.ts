// The code identity `run` records in a job's images: the job file and every file of the project
// it imports (found the way `submit` bundles it, so a `new URL('./member.mjs', import.meta.url)`
// module counts too), each hashed, named relative to the job file's directory. Packages under
// node_modules are left out: they change with installs, not with the job.
import fs from 'node:fs';
import path from 'node:path';
import { codeOfFiles, sha256Hex, type CodeIdentity } from '../src/runner/identity.js';
import { bundleJob } from './bundle.js';

export async function codeIdentity(jobFile: string): Promise<CodeIdentity> {
  const sources = new Set<string>();
  await bundleJob(jobFile, sources);
  const base = path.dirname(path.resolve(jobFile));
  const files: Record<string, string> = {};
  for (const file of sources) {
    if (file.split(path.sep).includes('node_modules')) continue;
    files[path.relative(base, file).split(path.sep).join('/')] = sha256Hex(fs.readFileSync(file));
  }
  return codeOfFiles(files);
}
