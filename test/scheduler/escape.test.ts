// The one escaping function the CLI prints user-supplied values through: nothing that moves the
// cursor, ends a line or restyles the terminal gets through, and ordinary text is unchanged.
import path from 'node:path';
import Database from 'better-sqlite3';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { unary } from '../../scheduler/proto/load.js';
import { hasUnprintable, printable, printableJson } from '../../scheduler/escape.js';
import { runCli, show, STACK_FRAME } from '../runner/helpers.js';
import { client, startScheduler } from './helpers.js';

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
  const indented = JSON.stringify(value, null, 2);
  t.is(printableJson(indented).split('\n').length, indented.split('\n').length, 'the indentation stays');
  t.deepEqual(JSON.parse(printableJson(indented)), value);
});

test('list, status and result print hostile and garbage values written straight into the database escaped, without crashing.', async (t) => {
  const scheduler = await startScheduler(t);
  const cluster = client(t, scheduler.address);
  const submit = (name: string) => unary(cluster.client, 'Submit', { name, code: Buffer.from('export default async () => 1'), argsJson: '{}' });
  const refused = await t.throwsAsync(submit('evil\u001b[2J\nname'));
  t.is((refused as { code?: number }).code, grpc.status.INVALID_ARGUMENT);
  t.regex(refused!.message, /holds a control character/);
  t.deepEqual((await cluster.call('ListJobs', {})).jobs, [], 'no job was made');
  const id = (await submit('fine')).id;
  const db = new Database(path.join(scheduler.dataDir, 'scheduler.db'));
  t.teardown(() => db.close());
  db.prepare(
    `UPDATE jobs SET state = 'succeeded', name = ?, message = ?, result_json = ?, error_json = 'not json', submitted_at = 'yesterday', started_at = 1e300, finished_at = -5, progress = 'x' WHERE id = ?`,
  ).run('planted\u001b]0;owned\u0007\nname', 'msg\u009b2J', '{"a": "\u001b[31m"', id);
  const bad = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
  for (const args of [['list'], ['list', '--json'], ['status', String(id)], ['status', String(id), '--json'], ['result', String(id)]]) {
    const run = await runCli(t, [...args, ...scheduler.args]);
    t.is(run.code, 0, `${args.join(' ')}: ${show(run)}`);
    t.notRegex(run.stdout + run.stderr, bad, args.join(' '));
    t.notRegex(run.stdout, /^name/m, `${args.join(' ')}: no forged line`);
    t.notRegex(run.stderr, STACK_FRAME);
  }
});
