// Commands cr prints for the user to run again (the resume command after a stop): written the way
// the user started cr, with the options that shape the run, each word quoted for a POSIX shell.
import path from 'node:path';
import type { Command } from 'commander';

export const BIN = 'cr-scheduler';

/**
 * The words that started this cr: `npx cr-scheduler` under npx (`npm exec`, which runs the
 * package's bin), the bin's name when started through it, and `node <script>` when the script
 * was given to Node directly (a checkout, a test).
 */
export function invokedAs(env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = process.argv, cwd = process.cwd()): string[] {
  const script = argv[1] ?? BIN;
  if (/\.[cm]?js$/.test(script)) {
    const relative = path.relative(cwd, script);
    return ['node', relative.startsWith('..') || path.isAbsolute(relative) ? script : relative];
  }
  // npm sets npm_command=exec for `npx` and `npm exec`; a bin in a project's node_modules/.bin is
  // not on the user's PATH, so the command must go through npx again.
  return env.npm_command === 'exec' ? ['npx', BIN] : [BIN];
}

// Words a POSIX shell takes as they are.
const PLAIN = /^[A-Za-z0-9_./:=@%+,-]+$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * One shell word. Plain words stay as they are; others are single-quoted (a quote inside closed,
 * escaped and reopened); a word with control characters is written $'...' with them escaped, so
 * that the printed command stays on one line and cannot move the terminal's cursor.
 */
export function shellQuote(word: string): string {
  if (PLAIN.test(word)) return word;
  if (CONTROL.test(word)) {
    const body = word.replace(/[\\']/g, (c) => `\\${c}`).replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
    return `$'${body}'`;
  }
  return `'${word.replaceAll("'", "'\\''")}'`;
}

export function commandLine(words: readonly string[]): string {
  return words.map(shellQuote).join(' ');
}

/**
 * The options of a parsed command as words, for the same command again: those the user gave on
 * the command line or through CR_* variables (so that the printed command also runs in another
 * shell), without the ones named in `omit` (--from, --fresh: a resume must not repeat them).
 */
export function givenOptions(command: Command, omit: readonly string[] = []): string[] {
  const words: string[] = [];
  const values = command.opts();
  for (const option of command.options) {
    const key = option.attributeName();
    const source = command.getOptionValueSource(key);
    if (source !== 'cli' && source !== 'env') continue;
    if (!option.long || omit.includes(option.long)) continue;
    const value = values[key] as unknown;
    if (value === undefined) continue;
    if (option.negate) {
      if (value === false) words.push(option.long);
    } else if (typeof value === 'boolean') {
      if (value) words.push(option.long);
    } else {
      words.push(option.long, String(value));
    }
  }
  return words;
}
