// The progress screen on a stream of its own: lines above the bar on a terminal, a progress line
// at most once a minute in a batch log (on a clock the test turns), nothing with --quiet.
import { PassThrough } from 'node:stream';
import test from 'ava';
import { PROGRESS_LINE_EVERY_MS, ProgressScreen, screenMode, timestamp } from '../../scheduler/progress.js';

/** A stream that records what is written; `tty` makes it look like a terminal 80 columns wide. */
function sink(tty: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  Object.assign(stream, { isTTY: tty, columns: 80 });
  return { stream, text: () => text };
}

// eslint-disable-next-line no-control-regex
const ESCAPES = /\u001b\[[0-9;?]*[A-Za-z]|\u001b[78]/g;

test('screenMode is quiet with --quiet, a bar on a terminal, lines in a pipe or with --no-progress.', (t) => {
  t.is(screenMode({ quiet: true, stream: sink(true).stream }), 'quiet');
  t.is(screenMode({ stream: sink(true).stream }), 'bar');
  t.is(screenMode({ progress: false, stream: sink(true).stream }), 'lines');
  t.is(screenMode({ stream: sink(false).stream }), 'lines');
});

test('Lines mode prints reports with the time and a progress line at most once a minute.', (t) => {
  const out = sink(false);
  let now = Date.UTC(2026, 11, 6, 4, 0, 0);
  const screen = new ProgressScreen({ mode: 'lines', label: 'heat', stream: out.stream, now: () => now });
  screen.progress(0.1, 'step 1');
  now += PROGRESS_LINE_EVERY_MS - 1;
  screen.progress(0.2, 'step 2');
  screen.report('checkpoint heat-00000001: 1.0 MiB');
  now += 1;
  screen.progress(0.25, 'step 3');
  screen.progress(0.3, 'step 4');
  screen.log('a log line');
  now += PROGRESS_LINE_EVERY_MS;
  screen.progress(2, '');
  screen.stop();
  t.is(
    out.text(),
    [
      '2026-12-06T04:00:59Z checkpoint heat-00000001: 1.0 MiB',
      '2026-12-06T04:01:00Z heat 25% step 3',
      'a log line',
      '2026-12-06T04:02:00Z heat 100%',
      '',
    ].join('\n'),
  );
});

test('Quiet mode prints log lines only.', (t) => {
  const out = sink(false);
  let now = 0;
  const screen = new ProgressScreen({ mode: 'quiet', label: 'heat', stream: out.stream, now: () => now });
  screen.progress(0.5, 'half');
  now += 10 * PROGRESS_LINE_EVERY_MS;
  screen.progress(0.6, 'more');
  screen.report('checkpoint');
  screen.log('the job said this');
  t.is(out.text(), 'the job said this\n');
});

test('On a terminal, each line is written above the bar, which is drawn again below it and cleared at the end.', (t) => {
  const out = sink(true);
  const screen = new ProgressScreen({ mode: 'bar', label: 'heat', stream: out.stream });
  screen.progress(0.5, 'step 5');
  screen.log('first line');
  screen.progress(0.75, 'step 7');
  screen.log('second line\nthird line');
  screen.stop();
  screen.log('after the bar');
  const raw = out.text();
  // What stays on the screen: each line whole, in order, the bar gone.
  const frames = raw.split(ESCAPES).join('').split('\r').join('');
  for (const line of ['first line\n', 'second line\nthird line\n', 'after the bar\n']) t.true(frames.includes(line), JSON.stringify(raw));
  t.true(raw.indexOf('first line') < raw.indexOf('second line'));
  t.regex(raw, /heat \[[█░]+\] 75% \| step 7/);
  // The bar never saves and restores the cursor (what overwrote lines before).
  t.false(raw.includes('\u001b7'));
  t.false(raw.includes('\u001b8'));
  // Cleared at the end: after the last bar comes the clear-below, then only the plain line.
  t.true(raw.endsWith('\u001b[?25h\u001b[1G\u001b[0Jafter the bar\n'), JSON.stringify(raw.slice(-120)));
  // Long lines wrap as the terminal wraps them: line wrapping is never turned off.
  t.false(raw.includes('\u001b[?7l'));
});

test('timestamp is UTC to the second.', (t) => {
  t.is(timestamp(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), '2026-01-02T03:04:05Z');
});
