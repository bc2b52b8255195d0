// The scheduler's /metrics: a real scheduler (in this process, its gRPC on loopback, the metrics
// plugin on a real Fastify listener) and real agents as processes, one of them SIGKILLed mid-run;
// each scrape is parsed with a strict text-format parser and the counters checked against what
// the scheduler's own records say happened.
import net from 'node:net';
import test, { type ExecutionContext } from 'ava';
import Fastify from 'fastify';
import { Cluster } from '../../../scheduler/client.js';
import { MetricsListenError, metricsRoutes, serveMetrics } from '../../../scheduler/http/metrics.js';
import { Authenticator } from '../../../scheduler/server/auth.js';
import { NodeIdentity } from '../../../scheduler/server/node-identity.js';
import { SchedulerCore } from '../../../scheduler/server/scheduler.js';
import { listen } from '../../../scheduler/server/service.js';
import { Tokens } from '../../../scheduler/server/tokens.js';
import { startCli, tempDir, type CliProcess } from '../../runner/helpers.js';
import { CLUSTER_JOB, finished, job, TEST_LEASE_S, waitFor } from '../helpers.js';
import { parsePrometheusText, valueOf, type Family } from './prometheus-text.js';

interface InProcessScheduler {
  core: SchedulerCore;
  address: string;
  admin: Cluster;
  adminToken: string;
  tokens: Tokens;
  metricsUrl: string;
}

/** What `serve` sets up, in this process: the core, gRPC on a free loopback port, /metrics on another. */
async function startScheduler(t: ExecutionContext): Promise<InProcessScheduler> {
  const core = await SchedulerCore.open({ dataDir: tempDir(t, 'metrics-scheduler'), leaseTimeoutMs: TEST_LEASE_S * 1000 });
  const tokens = new Tokens(core.db);
  const identity = new NodeIdentity(core.db);
  const log = (): void => undefined;
  const auth = new Authenticator({ tokens, identity, tls: false, log });
  const { server, port } = await listen(core, { auth, tokens, identity, ca: null, log }, '127.0.0.1', 0, null);
  core.start();
  // As serve --http registers it beside the dashboard.
  const app = Fastify();
  await app.register(metricsRoutes, { core, auth });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const adminToken = (await tokens.create('admin', 0, 'test')).token;
  const address = `127.0.0.1:${port}`;
  const admin = new Cluster(address, { token: adminToken });
  t.teardown(async () => {
    admin.close();
    await app.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    await core.close();
  });
  const bound = app.server.address() as net.AddressInfo;
  return { core, address, admin, adminToken, tokens, metricsUrl: `http://127.0.0.1:${bound.port}/metrics` };
}

async function startAgent(t: ExecutionContext, s: InProcessScheduler, name: string): Promise<CliProcess> {
  const cli = startCli(t, ['agent', '--scheduler', s.address, '--name', name, '--slots', '1', '--work', tempDir(t, `agent-${name}`)], { CR_TOKEN: (await s.tokens.create('agent', 0, name)).token });
  await cli.waitForStderr(/registered with the scheduler/);
  return cli;
}

async function scrape(url: string, token: string): Promise<Map<string, Family>> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status}`);
  if (!/^text\/plain; version=0\.0\.4/.test(response.headers.get('content-type') ?? '')) throw new Error(`content-type ${response.headers.get('content-type')}`);
  return parsePrometheusText(await response.text());
}

test("the scheduler's /metrics, scraped while an agent is SIGKILLed mid-run, counts the placements, the node lost, the lease expiry, the checkpoints and their bytes as the scheduler recorded them", async (t) => {
  const s = await startScheduler(t);
  const before = await scrape(s.metricsUrl, s.adminToken);
  for (const [name, labels] of [['cr_placements_total', {}], ['cr_lease_expiries_total', {}], ['cr_checkpoints_committed_total', {}], ['cr_job_restarts_total', { reason: 'node_lost' }], ['cr_image_bytes_written_total', {}]] as const) {
    t.is(valueOf(before, name, labels), 0, `${name} starts at 0`);
  }
  for (const state of ['queued', 'running', 'succeeded', 'failed', 'cancelled']) t.is(valueOf(before, 'cr_jobs', { state }), 0);
  t.true(before.has('process_cpu_user_seconds_total') && before.has('nodejs_eventloop_lag_seconds'), "prom-client's process metrics are served");

  const agents = new Map<string, CliProcess>();
  for (const name of ['a', 'b']) agents.set(name, await startAgent(t, s, name));
  // Attempt 1 holds at step 40 (taking images by time) until its node is killed: it cannot end first.
  const submitted = await startCli(t, ['submit', CLUSTER_JOB, '--scheduler', s.address, '--args', JSON.stringify({ steps: 120, stepMs: 5, holdAt: 40 }), '--interval', '0.2', '--retries', '0'], { CR_TOKEN: s.adminToken }).exit;
  t.is(submitted.code, 0, submitted.stderr);
  const id = Number(submitted.stdout.trim());
  const running = await waitFor('attempt 1 to have an image stored', async () => {
    const j = await job(s.admin, id);
    const { images } = await s.admin.call('ListImages', { job: id });
    return j.state === 'running' && images.length > 0 ? j : undefined;
  });
  const during = await scrape(s.metricsUrl, s.adminToken);
  t.is(valueOf(during, 'cr_placements_total'), 1);
  t.is(valueOf(during, 'cr_jobs', { state: 'running' }), 1);
  t.is(valueOf(during, 'cr_nodes', { state: 'alive' }), 2);
  t.true(valueOf(during, 'cr_checkpoints_committed_total') >= 1);

  agents.get(running.node)!.child.kill('SIGKILL');
  const done = await finished(s.admin, id);
  t.is(done.state, 'succeeded', done.errorJson);
  const after = await scrape(s.metricsUrl, s.adminToken);

  // What the scheduler's own records say happened.
  const { lines } = await s.admin.call('GetLogs', { job: id, after: 0 });
  const stored = lines.map((l) => /^image (\d+) stored \((\d+) bytes/.exec(l.text)).filter((m) => m !== null);
  const resumedFrom = lines.map((l) => /resumed from image (\d+)/.exec(l.text)).find((m) => m !== null);
  t.truthy(resumedFrom, 'attempt 2 resumed from an image');
  t.is(valueOf(after, 'cr_placements_total'), 2, 'two attempts were placed');
  t.is(valueOf(after, 'cr_lease_expiries_total'), 1, 'one lease expired');
  t.is(valueOf(after, 'cr_job_restarts_total', { reason: 'node_lost' }), 1);
  for (const reason of ['failed', 'node_reconnected', 'migrated', 'unstarted']) t.is(valueOf(after, 'cr_job_restarts_total', { reason }), 0, reason);
  t.is(valueOf(after, 'cr_checkpoints_committed_total'), stored.length, 'one per "image stored" event');
  t.is(valueOf(after, 'cr_image_bytes_written_total'), stored.reduce((sum, m) => sum + Number(m[2]), 0));
  t.true(valueOf(after, 'cr_image_upload_bytes_total') >= valueOf(after, 'cr_image_bytes_written_total'));
  t.true(valueOf(after, 'cr_image_upload_duration_seconds_count') >= stored.length);
  t.true(valueOf(after, 'cr_image_download_bytes_total') > 0, 'attempt 2 downloaded what it resumed from');
  t.true(valueOf(after, 'cr_image_download_duration_seconds_count') >= 1);
  // Each stored image came with what it cost its job, as its node measured it.
  t.is(valueOf(after, 'cr_checkpoint_pause_seconds_count'), stored.length);
  t.is(valueOf(after, 'cr_checkpoint_commit_seconds_count'), stored.length);
  t.true(valueOf(after, 'cr_checkpoint_pause_seconds_sum') > 0 && valueOf(after, 'cr_checkpoint_commit_seconds_sum') > 0);
  t.is(valueOf(after, 'cr_checkpoints_failed_total', { stage: 'upload' }), 0);
  t.is(valueOf(after, 'cr_jobs', { state: 'succeeded' }), 1);
  t.is(valueOf(after, 'cr_jobs', { state: 'running' }), 0);
  t.is(valueOf(after, 'cr_nodes', { state: 'dead' }), 1);
  t.is(valueOf(after, 'cr_nodes', { state: 'alive' }), 1);
  // No label names a job, a user or a node.
  const labels = new Set([...after.values()].filter((f) => f.name.startsWith('cr_')).flatMap((f) => f.samples.flatMap((x) => Object.keys(x.labels))));
  t.deepEqual([...labels].sort(), ['le', 'reason', 'stage', 'state']);
});

test("the scheduler's /metrics answers a user or admin token, and 401 to no token, a wrong one, or an agent's", async (t) => {
  const s = await startScheduler(t);
  const get = (authorization?: string) => fetch(s.metricsUrl, authorization === undefined ? {} : { headers: { authorization } });
  for (const [what, header] of [['no token', undefined], ['a wrong token', 'Bearer cr_not-a-token'], ["an agent's token", `Bearer ${(await s.tokens.create('agent', 0, 'a')).token}`]] as const) {
    const refused = await get(header);
    t.is(refused.status, 401, what);
    t.is(refused.headers.get('www-authenticate'), 'Bearer');
    t.notRegex(await refused.text(), /cr_jobs/, what);
  }
  for (const role of ['user', 'admin'] as const) {
    const allowed = await get(`Bearer ${(await s.tokens.create(role, 0, role)).token}`);
    t.is(allowed.status, 200, role);
    t.is(valueOf(parsePrometheusText(await allowed.text()), 'cr_jobs', { state: 'queued' }), 0);
  }
});

test('a metrics listener whose port is taken fails with MetricsListenError naming the address', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const { port } = blocker.address() as net.AddressInfo;
  const s = await startScheduler(t);
  const err = await t.throwsAsync(serveMetrics('127.0.0.1', port, s.core.metrics.registry), { instanceOf: MetricsListenError });
  t.is(err?.code, 'CR_METRICS_LISTEN');
  t.regex(err?.message ?? '', new RegExp(`cannot serve metrics on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
});
