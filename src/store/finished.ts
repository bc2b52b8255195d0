// The record that a job finished: `<store>/<job>/finished.json`, written when a run succeeds,
// replaced atomically (temp, fsync, rename, fsync dir), so it is either absent, the old record,
// or the new one. A rerun of the same computation prints it instead of computing again.
import path from 'node:path';
import { validateIdentity, type JobIdentity } from '../image/format.js';
import { readOwnFileSync, replaceFileSync } from './durable.js';

export const FINISHED_FILE = 'finished.json';
/** A result larger than this is not a result a run prints; the record is refused as damage. */
const MAX_FINISHED_BYTES = 64 * 1024 * 1024;

export interface FinishedRecord {
  job: string;
  /** What computation finished: a rerun with another identity is not this run. */
  identity: JobIdentity;
  /** ISO 8601. */
  finishedAt: string;
  /** Attempts of the invocation that finished it. */
  attempts: number;
  /** The job's return value as JSON (a BigInt as its decimal string, as the CLI prints it). */
  result: unknown;
  /** The image kept after it finished (for `--from`), or null when it took none. */
  image: number | null;
}

export function writeFinished(dir: string, record: FinishedRecord): void {
  replaceFileSync(path.join(dir, FINISHED_FILE), Buffer.from(`${JSON.stringify(record, null, 2)}\n`), 0o600);
}

/** The record in `dir`, or null when there is none. Throws when it is damaged or not a file. */
export function readFinished(dir: string): FinishedRecord | null {
  const file = path.join(dir, FINISHED_FILE);
  const bytes = readOwnFileSync(file, MAX_FINISHED_BYTES);
  if (bytes === null) return null;
  const fail = (what: string): never => {
    throw new Error(`${file} is damaged: ${what}`);
  };
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    fail('it is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('it is not an object');
  const r = value as Record<string, unknown>;
  if (typeof r.job !== 'string') fail('job is not a name');
  if (typeof r.finishedAt !== 'string' || Number.isNaN(Date.parse(r.finishedAt))) fail('finishedAt is not a date');
  if (!Number.isSafeInteger(r.attempts) || (r.attempts as number) < 1) fail('attempts is not a count');
  if (r.image !== null && (!Number.isSafeInteger(r.image) || (r.image as number) < 1)) fail('image is not an image number');
  if (!('result' in r)) fail('it holds no result');
  validateIdentity(r.identity, (what) => fail(what));
  return value as FinishedRecord;
}
