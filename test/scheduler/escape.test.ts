// The one escaping function the CLI prints user-supplied values through: nothing that moves the
// cursor, ends a line or restyles the terminal gets through, and ordinary text is unchanged.
import test from 'ava';
import { hasUnprintable, printable, printableJson } from '../../scheduler/escape.js';

test('Control characters, C1 controls, line separators and bidi overrides are shown escaped.', (t) => {
  t.is(printable('a\nb'), 'a\\nb');
  t.is(printable('x\r\ty'), 'x\\r\\ty');
  t.is(printable('\u001b[31mred\u001b[0m'), '\\x1b[31mred\\x1b[0m');
  t.is(printable('nul\u0000'), 'nul\\x00');
  t.is(printable('del\u007f csi\u009b'), 'del\\x7f csi\\x9b');
  t.is(printable('a\u2028b\u202ec'), 'a\\u2028b\\u202ec');
  for (const s of ['a\nb', '\u001b]0;title\u0007', '\u0085', '\u2066']) t.false(hasUnprintable(printable(s)), JSON.stringify(s));
});

test('Ordinary text, accents, CJK and emoji are printed as they are.', (t) => {
  for (const s of ['heat2d run 3', 'Ünïcödé – ok', '熱拡散', 'job 🚀', 'a\\nb']) {
    t.is(printable(s), s);
    t.false(hasUnprintable(s));
  }
});

test('JSON made safe to print is still the same JSON value.', (t) => {
  const value = { name: 'x\u009b2J\u007f\u2028', nested: ['\u001b[1m'] };
  const safe = printableJson(JSON.stringify(value));
  t.false(hasUnprintable(safe));
  t.deepEqual(JSON.parse(safe), value);
});
