// The scheduler's metrics as its core moves them (a real core on a real database): each reason a
// job goes back to the queue, the lease expiry, the placements, and the gauges read from the
// database at scrape time. The end-to-end scrape is in test/scheduler/http/metrics.test.ts.
import test from 'ava';
import { parsePrometheusText, valueOf } from '../http/prometheus-text.js';
import type { SchedulerCore } from '../../../scheduler/server/scheduler.js';
import { core, LEASE_MS, Sink, submit } from './helpers.js';

async function values(c: SchedulerCore) {
  return parsePrometheusText(await c.metrics.registry.metrics());
}

test('each way an attempt ends without ending its job counts one restart under its reason, and the gauges follow the database', async (t) => {
  const c = await core(t);
  const ids = [await submit(c), await submit(c), await submit(c), await submit(c)];
  await c.connect({ node: 'n1', slots: 4, running: [], version: '' }, new Sink());
  let m = await values(c);
  t.is(valueOf(m, 'cr_placements_total'), 4);
  t.is(valueOf(m, 'cr_jobs', { state: 'running' }), 4);
  t.is(valueOf(m, 'cr_nodes', { state: 'alive' }), 1);
  const base = { attempt: 1, resultJson: '', errorJson: '{"message":"x"}' };
  await c.finish({ ...base, job: ids[0]!, outcome: 'FAILED', retryable: true });
  await c.finish({ ...base, job: ids[1]!, outcome: 'STOPPED', retryable: false });
  await c.finish({ ...base, job: ids[2]!, outcome: 'UNSTARTED', retryable: false });
  // The node comes back running none of its jobs: those running there (the untouched one, and the
  // migrated one placed again at once) are requeued.
  const runningThere = (await c.jobs.runningOn('n1')).length;
  t.true(runningThere >= 1);
  await c.connect({ node: 'n1', slots: 1, running: [], version: '' }, new Sink(), Date.now() + 60_000);
  m = await values(c);
  for (const reason of ['failed', 'migrated', 'unstarted']) t.is(valueOf(m, 'cr_job_restarts_total', { reason }), 1, reason);
  t.is(valueOf(m, 'cr_job_restarts_total', { reason: 'node_reconnected' }), runningThere);
  t.is(valueOf(m, 'cr_job_restarts_total', { reason: 'node_lost' }), 0);
  t.is(valueOf(m, 'cr_lease_expiries_total'), 0);
  t.is(['queued', 'running'].map((state) => valueOf(m, 'cr_jobs', { state })).reduce((a, b) => a + b), 4, 'every job queued or running');
  t.is(valueOf(m, 'cr_jobs', { state: 'running' }), (await c.jobs.list(['running'])).length);
});

test("a node's lease expiring counts one expiry and a node_lost restart per job it ran; the node shows as dead", async (t) => {
  const c = await core(t);
  const a = await submit(c);
  const b = await submit(c);
  const now = Date.now();
  await c.connect({ node: 'n1', slots: 2, running: [], version: '' }, new Sink(), now);
  await c.checkLeases(now + LEASE_MS + 1);
  const m = await values(c);
  t.is(valueOf(m, 'cr_lease_expiries_total'), 1);
  t.is(valueOf(m, 'cr_job_restarts_total', { reason: 'node_lost' }), 2);
  t.is(valueOf(m, 'cr_nodes', { state: 'dead' }), 1);
  t.is(valueOf(m, 'cr_jobs', { state: 'queued' }), 2);
  t.like(await c.jobs.get(a), { state: 'queued' });
  t.like(await c.jobs.get(b), { state: 'queued' });
});
