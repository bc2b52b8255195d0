// Names shared by the scheduler and its agents.
import { hasUnprintable, printable } from './escape.js';

/** A job's name in an image store (scheduler's and agent's): the same on every node. */
export function storeJobName(id: number): string {
  return `job-${id}`;
}

export const DEFAULT_PORT = 7070;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_ADDRESS = `${DEFAULT_HOST}:${DEFAULT_PORT}`;
/** Default lease: a node not heard from for this long is presumed dead. */
export const DEFAULT_LEASE_TIMEOUT_MS = 5000;
/** The leader's lease among several schedulers on one database (`serve --leader-lease`), ms. */
export const DEFAULT_LEADER_LEASE_MS = 10_000;
/** Agents retry a lost connection at least this often; a restarted scheduler waits this much longer than a lease for them. */
export const AGENT_RECONNECT_MAX_MS = 2000;
/** Where `serve` keeps its database, images and token files unless told (--data, CR_DATA). */
export const DEFAULT_DATA_DIR = '.cr-scheduler';

/** What the scheduler says while its disk is full (server/storage.ts), and the CLI shows as it is. */
export const STORAGE_FULL = 'scheduler storage full: new work refused';

/** A job's name: 1 to this many characters (code points). */
export const MAX_JOB_NAME_CHARS = 200;
/** A job's result, as JSON, at most (the database holds it, `list --json` and `result` print it). */
export const MAX_RESULT_BYTES = 1 << 20;

/**
 * Why `name` cannot name a job, or null when it can: 1–200 printable characters, none of them a
 * control character (NUL, newline, ESC, C1 controls, line separators, bidi overrides), so that
 * no name can forge a line of `list` or a log, or drive the terminal that shows it.
 */
export function jobNameProblem(name: string): string | null {
  const length = [...name].length;
  if (length === 0) return 'a job name has at least one character';
  if (length > MAX_JOB_NAME_CHARS) return `a job name has at most ${MAX_JOB_NAME_CHARS} characters, this one ${length}`;
  if (hasUnprintable(name)) return `the job name "${printable(name.slice(0, 100))}" holds a control character (shown escaped): use printable characters only`;
  return null;
}

/** A log line longer than this is cut (by the agent, and again by the scheduler). */
export const MAX_LOG_LINE_CHARS = 16_384;

/** `line`, cut to MAX_LOG_LINE_CHARS with a note of its length. */
export function cutLogLine(line: string): string {
  return line.length <= MAX_LOG_LINE_CHARS ? line : `${line.slice(0, MAX_LOG_LINE_CHARS)}… (line cut: ${line.length} characters)`;
}
