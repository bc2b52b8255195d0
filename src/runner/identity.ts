// Job identity: what computation an image or a finished run belongs to (its code, its args, the
// cr that wrote it), and the one rule for whether a run may resume from it. As with Nextflow's
// -resume and Snakemake's rerun triggers, changed args are another computation, never a resume;
// changed code is refused too unless the user says the change keeps the state valid.
import { createHash } from 'node:crypto';
import { IdentityMismatchError } from '../errors.js';
import { MAX_IDENTITY_ARGS_JSON, type JobIdentity } from '../image/format.js';
import { VERSION } from '../version.js';

/** The job's code as the caller knows it: one hash, and per file when it comes from files. */
export interface CodeIdentity {
  /** sha256 (hex). */
  code: string;
  /** Relative path → sha256 (hex) of each file; null when the code is one bundle. */
  files: Record<string, string> | null;
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The code identity of a set of files: one hash over their sorted names and hashes. */
export function codeOfFiles(files: Record<string, string>): CodeIdentity {
  const sorted = Object.keys(files).sort();
  const code = sha256Hex(sorted.map((name) => `${name}\0${files[name]}\n`).join(''));
  return { code, files: Object.fromEntries(sorted.map((name) => [name, files[name]!])) };
}

/** JSON with object keys sorted, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same args. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value)) ?? 'null';
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export function jobIdentity(code: CodeIdentity, args: unknown): JobIdentity {
  const argsJson = canonicalJson(args);
  return { code: code.code, files: code.files, args: sha256Hex(argsJson), argsJson: argsJson.length <= MAX_IDENTITY_ARGS_JSON ? argsJson : null, cr: VERSION };
}

/**
 * Whether a run with identity `current` may resume from what `recorded` made (`what` names it:
 * `image 12 of "heat2d"`). Throws IdentityMismatchError when the args differ, or the code does and
 * `allowCodeChange` is false. Returns a warning to show, or null: `recorded` null (written before
 * cr recorded identities) resumes with a warning, as does an allowed code change.
 */
export function checkResume(recorded: JobIdentity | null, current: JobIdentity, allowCodeChange: boolean, what: string): string | null {
  if (recorded === null) {
    return `${what} records no job identity (it was written by a cr before ${VERSION} recorded one): its args and code cannot be checked; resuming from it`;
  }
  const argsDiffer = recorded.args !== current.args;
  const codeChanges = recorded.code === current.code ? [] : describeCodeChange(recorded, current);
  const codeDiffers = codeChanges.length > 0;
  if (argsDiffer || (codeDiffers && !allowCodeChange)) {
    const parts: string[] = [];
    if (argsDiffer) parts.push(`its args differ (${describeArgsChange(recorded.argsJson, current.argsJson)})`);
    if (codeDiffers) parts.push(`its code changed (${codeChanges.join(', ')})`);
    throw new IdentityMismatchError(`${what} was made by another computation: ${parts.join('; ')}`, { args: argsDiffer, code: codeDiffers });
  }
  if (codeDiffers) return `resuming from ${what} with changed code (${codeChanges.join(', ')}), as changed code is allowed`;
  return null;
}

function describeArgsChange(was: string | null, now: string | null): string {
  if (was === null || now === null) return 'they are too long to show here';
  const before = JSON.parse(was) as unknown;
  const after = JSON.parse(now) as unknown;
  if (!isObject(before) || !isObject(after)) return `they were ${was}, now ${now}`;
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const changes: string[] = [];
  for (const key of keys) {
    const a = key in before ? canonicalJson(before[key]) : null;
    const b = key in after ? canonicalJson(after[key]) : null;
    if (a === b) continue;
    if (a === null) changes.push(`${key} is ${b} now, it was not given`);
    else if (b === null) changes.push(`${key} was ${a}, it is not given now`);
    else changes.push(`${key} was ${a}, now ${b}`);
  }
  return changes.join(', ');
}

function describeCodeChange(was: JobIdentity, now: JobIdentity): string[] {
  if (was.files === null || now.files === null) return [`code sha256 ${was.code.slice(0, 12)}… then, ${now.code.slice(0, 12)}… now`];
  const names = [...new Set([...Object.keys(was.files), ...Object.keys(now.files)])].sort();
  const changes: string[] = [];
  for (const name of names) {
    const a = was.files[name];
    const b = now.files[name];
    if (a === b) continue;
    changes.push(a === undefined ? `${name} is new` : b === undefined ? `${name} is no longer imported` : `${name} changed`);
  }
  return changes.length > 0 ? changes : ['its files are the same, its hash is not'];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
