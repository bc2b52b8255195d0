// Sizes and durations given to `serve`: units understood, anything else refused naming the flag.
import test from 'ava';
import { InvalidArgumentError } from 'commander';
import { parseBytes, parseDuration } from '../../scheduler/options.js';

test('Sizes take binary units, case-insensitive, and plain byte counts.', (t) => {
  const bytes = parseBytes('--max-image-bytes');
  t.is(bytes('64GiB'), 64 * 2 ** 30);
  t.is(bytes('512m'), 512 * 2 ** 20);
  t.is(bytes('1.5KiB'), 1536);
  t.is(bytes('1048576'), 1048576);
  t.is(parseBytes('--min-upload-rate', 0)('0'), 0);
});

test('Bad sizes are refused with the flag and an example.', (t) => {
  const bytes = parseBytes('--max-image-bytes');
  for (const bad of ['', '0', '-1', '1PB', '1e9', 'lots', '99999999999TiB']) {
    const e = t.throws(() => bytes(bad), { instanceOf: InvalidArgumentError }, bad);
    t.regex(e.message, /--max-image-bytes must be a size of at least 1 bytes, like 64GiB/);
  }
});

test('Durations take s, m, h, d and w, or plain seconds; bad ones are refused with the flag.', (t) => {
  const duration = parseDuration('--keep-finished');
  t.is(duration('7d'), 7 * 86_400);
  t.is(duration('12h'), 43_200);
  t.is(duration('30m'), 1800);
  t.is(duration('45s'), 45);
  t.is(duration('90'), 90);
  for (const bad of ['', '0', '-1d', '3y', 'soon']) {
    const e = t.throws(() => duration(bad), { instanceOf: InvalidArgumentError }, bad);
    t.regex(e.message, /--keep-finished must be a positive duration like 7d/);
  }
});
