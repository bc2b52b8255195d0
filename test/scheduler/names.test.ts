// Job names: 1 to 200 printable characters; anything else is named as the problem.
import test from 'ava';
import { cutLogLine, jobNameProblem, MAX_JOB_NAME_CHARS, MAX_LOG_LINE_CHARS } from '../../scheduler/names.js';

test('Printable names of 1 to 200 characters are accepted, counted in characters not bytes.', (t) => {
  for (const name of ['a', 'heat2d n=1024', 'é'.repeat(MAX_JOB_NAME_CHARS), '🚀'.repeat(MAX_JOB_NAME_CHARS)]) t.is(jobNameProblem(name), null, name);
});

test('Empty, overlong and control-character names are refused with the reason, the name shown escaped.', (t) => {
  t.regex(jobNameProblem('')!, /at least one character/);
  t.regex(jobNameProblem('x'.repeat(MAX_JOB_NAME_CHARS + 1))!, /at most 200 characters, this one 201/);
  for (const bad of ['a\nb', 'nul\u0000', '\u001b[2Jwipe', 'c1\u009b', 'bidi\u202e', 'sep\u2028']) {
    const problem = jobNameProblem(bad);
    t.regex(problem ?? '', /holds a control character/, JSON.stringify(bad));
    t.notRegex(problem!, /[\u0000-\u001f\u007f-\u009f\u2028\u202e]/, 'the message itself is printable');
  }
});

test('Log lines past the limit are cut and say how long they were.', (t) => {
  t.is(cutLogLine('short'), 'short');
  const cut = cutLogLine('x'.repeat(MAX_LOG_LINE_CHARS + 5));
  t.true(cut.startsWith('x'.repeat(MAX_LOG_LINE_CHARS)));
  t.regex(cut, /line cut: 16389 characters/);
});
