// What agents send about a job, checked before it is stored, and what the database holds,
// turned back into the wire's types: no stored value can make a reply fail to encode or the
// CLI fail to print it.
import { MAX_RESULT_BYTES } from '../names.js';

/** Why `json` cannot be a job's result (JSON of at most MAX_RESULT_BYTES), or null. */
export function resultProblem(json: string): string | null {
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_RESULT_BYTES) return `the result is ${bytes} bytes of JSON; at most ${MAX_RESULT_BYTES}: return a summary and write bulk data to files`;
  try {
    JSON.parse(json);
    return null;
  } catch {
    return 'the result is not valid JSON';
  }
}

/**
 * An attempt's error is kept whatever it is (refusing it would leave the job running for good):
 * one that is not JSON, or too long, is kept as the start of its text.
 */
export function keptError(json: string): string {
  const bytes = Buffer.byteLength(json);
  if (bytes <= MAX_RESULT_BYTES) {
    try {
      JSON.parse(json);
      return json;
    } catch {
      return JSON.stringify({ message: `(the attempt's error was not JSON) ${json.slice(0, 4096)}` });
    }
  }
  return JSON.stringify({ message: `(the attempt's error was ${bytes} bytes, cut) ${json.slice(0, 4096)}` });
}

/** A stored value as a string field. */
export const text = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
/** A stored value as a double field (0 when it is not a finite number). */
export const finite = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
/** A stored value as an integer field of the given range (0 outside it). */
export const int = (v: unknown, min = 0, max = 2 ** 32 - 1): number => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : 0);
