// `logs JOB` prints every line the scheduler holds for the job, however many pages it takes,
// each escaped: a line cannot forge another or drive the terminal.
import test from 'ava';
import { batches } from '../../../scheduler/server/db.js';
import { runCli, show } from '../../runner/helpers.js';
import { client, schedulerDb, startScheduler } from '../helpers.js';

test('logs without -f prints all 2500 lines of a job (more than a page), each on one line, escaped.', async (t) => {
  const scheduler = await startScheduler(t);
  const cluster = client(t, scheduler.address);
  const id = (await cluster.call('Submit', { name: 'loud', code: Buffer.from('export default async () => 1'), argsJson: '{}' })).id;
  const db = await schedulerDb(t, scheduler);
  const planted = Array.from({ length: 2500 }, (_, i) => ({ job: id, attempt: 1, at: Date.now(), kind: 'log', text: i === 7 ? 'line 7\nforged line\u001b[2J' : `line ${i}` }));
  for (const rows of batches(planted)) await db.q.insertInto('events').values(rows).execute();
  const run = await runCli(t, ['logs', String(id), ...scheduler.args]);
  t.is(run.code, 0, show(run));
  const lines = run.stdout.trimEnd().split('\n');
  t.is(lines.filter((l) => / \[1\] line \d+/.test(l)).length, 2500);
  t.regex(lines.at(-1)!, / \[1\] line 2499$/);
  t.true(lines.some((l) => l.endsWith('[1] line 7\\nforged line\\x1b[2J')));
  t.false(run.stdout.includes('\u001b'));
  t.false(lines.some((l) => l.startsWith('forged')));
  const json = await runCli(t, ['logs', String(id), '--json', ...scheduler.args]);
  t.is(json.code, 0, show(json));
  const parsed = json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { text: string });
  t.is(parsed.filter((l) => l.text.startsWith('line')).length, 2500);
});
