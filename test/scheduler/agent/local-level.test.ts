// Two levels of images with a shared directory store (serve --images DIR): a job whose agent is
// SIGKILLed and restarted on the same node restores from that node's copy, with no download; on
// another node it reads the shared store. The scheduler's data directory never holds an image,
// and the job ends with an uninterrupted run's result.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { tempDir, uninterruptedResult } from '../../runner/helpers.js';
import { CLUSTER_JOB, client, finished, job, startScheduler, submit, waitFor } from '../helpers.js';
import { logText, startAgentIn } from '../images/cluster.js';

test("A job killed with its agent resumes from the node's own copy when the agent restarts there, from the shared directory on another node, and ends bit-identical.", async (t) => {
  // Attempts 1 and 2 hold at steps 100 and 200 until their agent is killed; images are taken only when asked.
  const args = { steps: 300, stepMs: 5, length: 1 << 19, holdAt: 100, holdAttempts: 2 };
  const expected = uninterruptedResult(CLUSTER_JOB, { steps: 300, stepMs: 0, length: 1 << 19 });
  const shared = tempDir(t, 'shared-images');
  const scheduler = await startScheduler(t, { extra: ['--images', shared] });
  const cluster = client(t, scheduler.address);
  const workA = tempDir(t, 'agent-a');
  let a = await startAgentIn(t, scheduler.address, 'a', workA);
  const id = await submit(t, scheduler.address, CLUSTER_JOB, args, ['--interval', '3600', '--retries', '0']);

  /** Attempt `n` holds at its step: one image is asked for, recorded, and kept on node a. */
  const imageWhileHolding = async (n: number): Promise<{ sequence: number; sha256: string }> => {
    await waitFor(`attempt ${n} to hold`, async () => {
      const j = await job(cluster, id);
      return j.state === 'running' && j.attempt === n && j.message === `step ${100 * n}` ? true : undefined;
    });
    await cluster.call('Checkpoint', { job: id });
    const image = await waitFor(`attempt ${n}'s image`, async () => (await cluster.call('ListImages', { job: id })).images.find((i) => i.attempt === n));
    const copy = path.join(workA, 'images', `job-${id}`, `${String(image.sequence).padStart(8, '0')}-${image.sha256}.crimg`);
    await waitFor(`node a's copy of image ${image.sequence}`, async () => (fs.existsSync(copy) ? true : undefined));
    t.true(fs.existsSync(path.join(shared, `job-${id}`, `${String(image.sequence).padStart(8, '0')}-a${n}.crimg`)), 'the image is in the shared directory');
    return image;
  };

  const first = await imageWhileHolding(1);
  a.child.kill('SIGKILL');
  await a.exit;
  a = await startAgentIn(t, scheduler.address, 'a', workA);
  const second = await imageWhileHolding(2);
  a.child.kill('SIGKILL');
  await a.exit;
  await startAgentIn(t, scheduler.address, 'b', tempDir(t, 'agent-b'));

  const done = await finished(cluster, id);
  t.is(done.state, 'succeeded', done.errorJson);
  t.deepEqual(JSON.parse(done.resultJson), await expected);
  t.is(done.attempt, 3);
  const text = logText((await cluster.call('GetLogs', { job: id, after: 0 })).lines);
  const [beforeB, onB] = text.split('attempt 3 placed on node b');
  // Attempt 2, on node a again: no download.
  t.regex(beforeB!, new RegExp(`attempt 2 on node a: resumed from image ${first.sequence}`));
  t.regex(beforeB!, new RegExp(`image ${first.sequence}: this node's copy \\(no download\\)`));
  t.notRegex(beforeB!, /read from the image store|downloaded/);
  // Attempt 3, on node b: from the shared directory.
  t.regex(onB!, new RegExp(`attempt 3 on node b: resumed from image ${second.sequence}`));
  t.regex(onB!, new RegExp(`image ${second.sequence}: read from the image store ${shared.replace(/[/.]/g, '\\$&')}`));
  // No image passed through the scheduler's disk.
  const own = path.join(scheduler.dataDir, 'images');
  const files = fs.existsSync(own) ? fs.readdirSync(own, { recursive: true }).map(String).filter((f) => f.endsWith('.crimg')) : [];
  t.deepEqual(files, []);
  // Removing a finished job's images removes them from the store.
  t.true(fs.existsSync(path.join(shared, `job-${id}`)));
  await cluster.call('DeleteImages', { job: id });
  await waitFor('the job\'s images to leave the shared directory', async () => (fs.existsSync(path.join(shared, `job-${id}`)) ? undefined : true));
});
