// The adversarial suite on a loopback scheduler without TLS: agents are their bound tokens.
// Each attack is refused with the right status, changes nothing, and leaves an event or a log
// line naming the caller. The same attacks under mutual TLS: adversarial-tls.test.ts.
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { schedulerClient, unary } from '../../scheduler/proto/load.js';
import { nodeForAnotherNodesJob, REVOKED_LEASE_S, ownNode, snapshot, startRealAgent, startSecureCluster, statusOf, victimJob } from './adversary.js';
import { startCli, tempDir } from '../runner/helpers.js';
import { waitFor } from './helpers.js';

test("Loopback: a node cannot report, finish, upload or download for another node's job, with or without a valid attempt number.", async (t) => {
  await nodeForAnotherNodesJob(t, await startSecureCluster(t, 'loopback'));
});

test('Loopback: an agent token is bound to its first node name; another name, or a name another connected agent holds, is refused, and the agent exits saying why.', async (t) => {
  const cluster = await startSecureCluster(t, 'loopback');
  await startRealAgent(t, cluster, 'honest');
  const job = await victimJob(t, cluster, await cluster.token('user', 3600, 'victim'));
  const mallory = await ownNode(t, cluster, 'mallory');
  const [thiefToken, unbound] = [await cluster.token('agent'), await cluster.token('agent')];
  const before = snapshot(cluster, job.id);
  // A new agent under the name of the connected one: refused, and the agent process stops (exit 1) saying why.
  const thief = await startCli(t, ['agent', '--name', 'honest', '--slots', '1', '--work', tempDir(t, 'thief'), '--scheduler', cluster.address], { CR_TOKEN: thiefToken }).exit;
  t.is(thief.code, 1, thief.stderr);
  t.regex(thief.stderr, /refused this agent: node name "honest" is held by another connected agent \(token [0-9a-f]{12}\)/);
  // A token bound to mallory cannot connect as another node, nor speak for one.
  const other = await new Promise<{ code: number; details: string }>((resolve) => {
    const call = mallory.client.Connect({ node: 'honest', slots: 1, running: [{ job: job.id, attempt: job.attempt }], version: 'x' });
    call.on('data', () => call.cancel());
    call.on('error', () => undefined);
    call.on('status', (s: grpc.StatusObject) => resolve(s));
  });
  t.is(other.code, grpc.status.PERMISSION_DENIED);
  t.regex(other.details, /node mallory: it cannot speak for node "honest"/);
  const beat = await statusOf(unary(mallory.client, 'Heartbeat', { node: 'honest', session: 'x' }));
  t.is(beat.code, grpc.status.PERMISSION_DENIED);
  // The cr-node header of the old protocol names no one: a token not bound yet is no node.
  const header = schedulerClient(cluster.address, cluster.withToken(unbound));
  t.teardown(() => header.close());
  const claimed = await statusOf(
    new Promise((resolve, reject) => {
      const metadata = new grpc.Metadata();
      metadata.set('cr-node', 'honest');
      header.Heartbeat({ node: 'honest', session: 'x' }, metadata, (err, value) => (err ? reject(err) : resolve(value)));
    }),
  );
  t.is(claimed.code, grpc.status.PERMISSION_DENIED);
  t.regex(claimed.details, /is not bound to a node yet/);
  t.deepEqual(snapshot(cluster, job.id), before, 'nothing changed');
  t.like(await unary(cluster.admin, 'GetJob', { job: job.id }), { state: 'running', node: 'honest', attempt: job.attempt });
  t.regex(cluster.scheduler.stderr, /refused Connect from .*: PERMISSION_DENIED: node name "honest" is held by another connected agent/);
  t.regex(cluster.scheduler.stderr, /refused Heartbeat from .*: PERMISSION_DENIED/);
});

test('Loopback: after "node revoke", the node\'s tokens are refused, its jobs move, and the name may be taken by a new agent.', async (t) => {
  const cluster = await startSecureCluster(t, 'loopback', REVOKED_LEASE_S);
  const honest = await startRealAgent(t, cluster, 'honest');
  const job = await victimJob(t, cluster, await cluster.token('user', 3600, 'victim'));
  const revoke = await startCli(t, ['node', 'revoke', 'honest', ...cluster.args]).exit;
  t.is(revoke.code, 0, revoke.stderr);
  t.regex(revoke.stdout, /node honest revoked \(0 certificates and 1 agent token\)/);
  // The agent's token is revoked: it reconnects, is refused, and stops.
  const exit = await honest.exit;
  t.is(exit.code, 1);
  t.regex(exit.stderr, /refused this agent: token [0-9a-f]{12} was revoked/);
  await startRealAgent(t, cluster, 'honest');
  const moved = await waitFor('the job to run again', async () => {
    const j = await unary(cluster.admin, 'GetJob', { job: job.id });
    return j.state === 'running' && j.attempt > job.attempt ? j : undefined;
  });
  t.is(moved.node, 'honest');
});
