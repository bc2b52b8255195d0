// Human-facing output helpers shared by the commands: sizes, durations, aligned tables, and
// the one place that decides how an error is shown (no stack trace unless --verbose).
import { printable, printableJson } from './escape.js';

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

export function formatMs(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** Columns padded to their widest cell; numbers right-aligned. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const numeric = header.map((_, c) => rows.length > 0 && rows.every((r) => typeof r[c] === 'number' || /^[\d.,]+(\s?[A-Za-zµ×%]+)?$/.test(String(r[c]))));
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((cell, c) => (numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** JSON for people and scripts: BigInt as a string, 2-space indent. */
export function toJson(value: unknown): string {
  return printableJson(JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) ?? 'null');
}

/** `1 image`, `3 images`; `plural(2, 'retry', 'retries')` for the irregular ones. */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** A job's state in a sentence: "job 3 is queued", "has succeeded", "was cancelled". */
export function stateInWords(state: string): string {
  switch (state) {
    case 'queued':
    case 'running':
      return `is ${state}`;
    case 'succeeded':
    case 'failed':
      return `has ${state}`;
    case 'cancelled':
      return 'was cancelled';
    default:
      return `is ${state}`;
  }
}

export class UsageError extends Error {}

export function reportError(err: unknown, verbose: boolean): void {
  const e = err as Error & { code?: string };
  if (verbose && e?.stack) {
    process.stderr.write(`${e.stack}\n`);
  } else {
    // A job file's error ends with a code frame: its lines stay lines, each kept to one (the
    // frame's tabs stay, so that its caret lines up; its control characters are already escaped).
    const text =
      e?.code === 'CR_JOB_FILE'
        ? e.message
            .split('\n')
            .map((line) => line.split('\t').map(oneLine).join('\t'))
            .join('\n')
        : oneLine(e?.message ?? String(err));
    process.stderr.write(`cr-scheduler: ${text}\n`);
  }
}

/**
 * An error message as one line: control characters (a newline inside a value the user gave, an
 * escape sequence in a file name) are shown escaped, so a message cannot fake more lines or
 * rewrite the terminal. A final newline is kept.
 */
export function oneLine(text: string): string {
  const end = text.endsWith('\n') ? '\n' : '';
  return printable(end ? text.slice(0, -1) : text) + end;
}
