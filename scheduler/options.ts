// Parsing of option values shared by commands: each says what is wrong with a bad value.
// Strict on purpose: `Number()` alone takes "" and " " as 0, "0x10" as 16 and "1e400" as
// Infinity, so a typo would silently become a setting. Values come from flags and CR_* variables.
import { InvalidArgumentError } from 'commander';

/** A plain decimal number: digits, an optional fraction, an optional exponent. */
const DECIMAL = /^\+?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const DIGITS = /^\d+$/;

/** The longest delay a Node timer takes: 2^31 − 1 ms. A longer one silently fires after 1 ms. */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
/** A bound for durations that only enter arithmetic (about 31 years): keeps `seconds × 1000` finite and exact. */
export const MAX_SECONDS = 1e9;

export function parsePositiveNumber(what: string, max = MAX_SECONDS) {
  return (value: string): number => {
    const n = DECIMAL.test(value) ? Number(value) : NaN;
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a positive number, got ${quote(value)}`);
    if (n > max) throw new InvalidArgumentError(`${what} must be at most ${max} seconds, got ${quote(value)}`);
    return n;
  };
}

/** Like parsePositiveNumber, and 0 too (`--retry-delay 0`: restart at once). */
export function parseNonNegativeNumber(what: string, max = MAX_SECONDS) {
  return (value: string): number => {
    const n = DECIMAL.test(value) ? Number(value) : NaN;
    if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${what} must be a number ≥ 0, got ${quote(value)}`);
    if (n > max) throw new InvalidArgumentError(`${what} must be at most ${max} seconds, got ${quote(value)}`);
    return n;
  };
}

export function parseCount(what: string, min = 0) {
  return (value: string): number => {
    const n = DIGITS.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${what} must be a whole number ≥ ${min}, got ${quote(value)}`);
    return n;
  };
}

/** A file or directory name: not empty (which would mean the current directory), no NUL byte. */
export function parsePath(what: string) {
  return (value: string): string => {
    if (value === '') throw new InvalidArgumentError(`${what} must not be empty`);
    if (value.includes('\0')) throw new InvalidArgumentError(`${what} must not contain a NUL byte`);
    return value;
  };
}

/**
 * Checks that a value is JSON text and returns the text: commander turns a parser's `null` into
 * "", so `--args null` would reach the job as an empty string; the caller parses the text.
 */
export function parseJsonText(value: string): string {
  try {
    JSON.parse(value);
    return value;
  } catch (err) {
    throw new InvalidArgumentError(`not valid JSON (${(err as Error).message}); quote it for the shell, e.g. --args '{"n": 256}'`);
  }
}

/** A value inside a one-line message: quoted, with control characters escaped so it stays one line. */
export function quote(value: string): string {
  return JSON.stringify(value);
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, kib: 2 ** 10, m: 2 ** 20, mib: 2 ** 20, g: 2 ** 30, gib: 2 ** 30, t: 2 ** 40, tib: 2 ** 40 };

/** A size: a number with an optional binary unit (`64GiB`, `512M`, `1048576`); `min` allows 0 where 0 means "off". */
export function parseBytes(what: string, min = 1) {
  return (value: string): number => {
    const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(value.trim());
    const unit = m ? BYTE_UNITS[m[2]!.toLowerCase()] : undefined;
    const n = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${what} must be a size of at least ${min} bytes, like 64GiB, 512MiB or 1048576, got ${quote(value)}`);
    return n;
  };
}

const DURATION_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, min: 60, h: 3600, d: 86_400, w: 604_800 };

/** A duration in seconds: a number with an optional unit (`7d`, `12h`, `30m`, `45s`, `90`). */
export function parseDuration(what: string) {
  return (value: string): number => {
    const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(value.trim());
    const unit = m ? DURATION_UNITS[m[2]!.toLowerCase()] : undefined;
    const n = m && unit !== undefined ? Number(m[1]) * unit : NaN;
    if (!Number.isFinite(n) || n <= 0 || n > MAX_SECONDS) throw new InvalidArgumentError(`${what} must be a positive duration like 7d, 12h, 30m or 45s, got ${quote(value)}`);
    return n;
  };
}

/** HOST:PORT, [IPv6]:PORT, or a PORT alone on `defaultHost` (port 0: any free port). */
export function parseHostPort(what: string, defaultHost = '127.0.0.1') {
  return (value: string): { host: string; port: number } => {
    const m = /^(\d+)$/.exec(value) ? [value, defaultHost, value] : (/^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:[\]]+):(\d+)$/.exec(value));
    const port = m ? Number(m[2]) : NaN;
    if (m === null || !m[1] || !Number.isSafeInteger(port) || port > 65_535) throw new InvalidArgumentError(`${what} must be HOST:PORT, [IPv6]:PORT or a PORT (on ${defaultHost}), got ${quote(value)}`);
    return { host: m[1], port };
  };
}
