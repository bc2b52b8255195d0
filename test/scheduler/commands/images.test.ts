// `images JOB --delete`: refused while the job can still resume from its images (nothing is
// removed), done for a job that has ended.
import test from 'ava';
import { runCli, show } from '../../runner/helpers.js';
import { client, schedulerDb, startScheduler } from '../helpers.js';

test('images --delete is refused for a queued job and removes the images of a cancelled one.', async (t) => {
  const scheduler = await startScheduler(t);
  const cluster = client(t, scheduler.address);
  const id = (await cluster.call('Submit', { name: 'j', code: Buffer.from('export default async () => 1'), argsJson: '{}' })).id;
  const db = await schedulerDb(t, scheduler);
  await db.q.insertInto('images').values({ job: id, sequence: 1, attempt: 1, node: 'n1', bytes: 2048, sha256: 'x', bases_json: '[]', created_at: Date.now() }).execute();
  const refused = await runCli(t, ['images', String(id), '--delete', ...scheduler.args]);
  t.is(refused.code, 1, show(refused));
  t.regex(refused.stderr, /job \d+ is queued: its images are what it resumes from; cancel it first/);
  t.is((await cluster.call('ListImages', { job: id })).images.length, 1);
  t.is((await runCli(t, ['cancel', String(id), ...scheduler.args])).code, 0);
  const removed = await runCli(t, ['images', String(id), '--delete', ...scheduler.args]);
  t.is(removed.code, 0, show(removed));
  t.is(removed.stdout, `removed 1 image of job ${id} (2.00 KiB)\n`);
  t.deepEqual((await cluster.call('ListImages', { job: id })).images, []);
});
