// Clients with several scheduler addresses: what a refusal says (classify), where they go next
// (SchedulerSet.next), and the CLI and the agent against real schedulers where the first address
// is a closed port, a stopped scheduler, or a scheduler that has moved to another port.
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import test, { type ExecutionContext } from 'ava';
import { bundleJob } from '../../scheduler/bundle.js';
import { Cluster, ClusterError, NoSchedulerError } from '../../scheduler/client.js';
import { classify, LEADER_METADATA, SchedulerSet } from '../../scheduler/leader-follow.js';
import { storeJobName } from '../../scheduler/names.js';
import { schedulerService } from '../../scheduler/proto/load.js';
import { HANG_GUARD_MS, runCli, show, startCli, tempDir, uninterruptedResult } from '../runner/helpers.js';
import { adminToken, CLUSTER_JOB, client, createToken, finished, freePort, startScheduler, waitFor } from './helpers.js';

/** A gRPC status error as grpc-js delivers it. */
function statusError(code: grpc.status, details: string, leader?: string): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  if (leader !== undefined) metadata.set(LEADER_METADATA, leader);
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata });
}

test('A standby refusal names the leader from cr-leader; a refused connection was never sent; a broken one may have been; other errors are answers.', (t) => {
  t.deepEqual(classify(statusError(grpc.status.UNAVAILABLE, 'this scheduler is a standby; the leader is at b:7070', 'b:7070')), {
    kind: 'standby',
    leader: 'b:7070',
    said: 'a standby; it says the leader is at b:7070',
  });
  t.like(classify(statusError(grpc.status.UNAVAILABLE, 'this scheduler is a standby; the leader is at ', '')), { kind: 'standby', leader: null });
  t.like(classify(statusError(grpc.status.UNAVAILABLE, 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ')), {
    kind: 'unreachable',
    said: 'cannot connect (ECONNREFUSED)',
  });
  t.like(classify(statusError(grpc.status.UNAVAILABLE, 'Connection dropped')), { kind: 'lost' });
  t.like(classify(statusError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded')), { kind: 'lost' });
  t.like(classify(statusError(grpc.status.UNAVAILABLE, 'scheduler storage full: new work refused: ENOSPC')), { kind: 'answer' });
  t.like(classify(statusError(grpc.status.NOT_FOUND, 'no job 7')), { kind: 'answer' });
});

test('After a refusal the client goes to the leader a standby names, unless that one could not be reached; else to the next address in turn.', (t) => {
  const set = new SchedulerSet(['a:1', 'b:1', 'c:1']);
  t.teardown(() => set.close());
  t.is(set.current, 'a:1');
  t.is(set.next('a:1', { kind: 'unreachable', said: '' }), 'b:1');
  // b names a, which just refused a connection: on to c rather than back to a dead leader.
  t.is(set.next('b:1', { kind: 'standby', leader: 'a:1', said: '' }), 'c:1');
  t.is(set.next('c:1', { kind: 'standby', leader: 'b:1', said: '' }), 'b:1');
  t.is(set.next('b:1', { kind: 'lost', said: '' }), 'c:1');
  // b did not answer (paused, say): c's pointer to it is not followed either.
  t.is(set.next('c:1', { kind: 'standby', leader: 'b:1', said: '' }), 'a:1');
  t.is(set.next('a:1', { kind: 'standby', leader: null, said: '' }), 'b:1');
  // A leader that answered clears what was unreachable; a leader by another name is followed and remembered.
  set.answered('a:1', true);
  t.is(set.next('a:1', { kind: 'standby', leader: 'leader.example:7070', said: '' }), 'leader.example:7070');
  t.deepEqual(set.addresses, ['a:1', 'b:1', 'c:1', 'leader.example:7070']);
});

test('With a closed port first, the CLI reads and writes through the scheduler given second.', async (t) => {
  const scheduler = await startScheduler(t);
  const addresses = `127.0.0.1:${await freePort()},${scheduler.address}`;
  const cluster = new Cluster(addresses, { token: adminToken(scheduler.address) });
  t.teardown(() => cluster.close());
  const code = Buffer.from('export default async () => 42;');
  const job = await cluster.call('Submit', { name: 'via-second', code, argsJson: '{}' });
  t.is((await cluster.call('GetJob', { job: job.id })).name, 'via-second');
  const listed = await runCli(t, ['list', '--json', '--scheduler', addresses, '--token-file', scheduler.tokenFile]);
  t.is(listed.code, 0, show(listed));
  t.deepEqual((JSON.parse(listed.stdout) as { id: number }[]).map((j) => j.id), [job.id]);
});

test('When no scheduler answers, the CLI says which addresses it tried and what each said, and exits 1.', async (t) => {
  const [p1, p2] = [await freePort(), await freePort()];
  const addresses = `127.0.0.1:${p1},127.0.0.1:${p2}`;
  const cluster = new Cluster(addresses);
  t.teardown(() => cluster.close());
  const error = await t.throwsAsync(cluster.call('Cancel', { job: 1 }, 3_600_000), { instanceOf: NoSchedulerError });
  t.is(error?.code, 'CR_NO_SCHEDULER');
  t.deepEqual(error?.tried.map((x) => [x.address, x.said]), [
    [`127.0.0.1:${p1}`, 'cannot connect (ECONNREFUSED)'],
    [`127.0.0.1:${p2}`, 'cannot connect (ECONNREFUSED)'],
  ]);
  const run = await runCli(t, ['list', '--scheduler', addresses, '--token', 'crt_x_y']);
  t.is(run.code, 1, show(run));
  t.is(
    run.stderr,
    `cr-scheduler: no scheduler could take the call (set --scheduler or CR_SCHEDULER to host:port,host:port; if they listen with TLS, give --ca or CR_CA). ` +
      `Tried 127.0.0.1:${p1}: cannot connect (ECONNREFUSED); 127.0.0.1:${p2}: cannot connect (ECONNREFUSED)\n`,
  );
  t.is(t.throws(() => new Cluster('a:1,b'), { instanceOf: ClusterError })?.message, '--scheduler: "b" is not host:port (several schedulers are given as host:port,host:port)');
});

test('A read that a stopped scheduler does not answer in time is answered by the next one.', async (t) => {
  const stopped = await startScheduler(t);
  const running = await startScheduler(t);
  stopped.cli.child.kill('SIGSTOP');
  t.teardown(() => void stopped.cli.child.kill('SIGCONT'));
  const cluster = new Cluster(`${stopped.address},${running.address}`, { token: adminToken(running.address) });
  t.teardown(() => cluster.close());
  // The deadline is what the stopped one costs; long enough that the running one answers in time on a loaded machine.
  const { nodes } = await cluster.call('ListNodes', {}, 30_000);
  t.deepEqual(nodes, []);
});

/**
 * A server that answers every call as the contract's standby does (UNAVAILABLE, the leader's
 * address in the trailing metadata cr-leader): until standby schedulers exist, the wire
 * contract itself. Returns its address.
 */
async function contractStandby(t: ExecutionContext, leader: string): Promise<string> {
  const standby = new grpc.Server();
  const refusal = (): Partial<grpc.StatusObject> => {
    const metadata = new grpc.Metadata();
    metadata.set(LEADER_METADATA, leader);
    return { code: grpc.status.UNAVAILABLE, details: `this scheduler is a standby; the leader is at ${leader}`, metadata };
  };
  const handlers = Object.fromEntries(
    Object.entries(schedulerService()).map(([name, method]) => [
      name,
      method.responseStream
        ? (call: grpc.ServerWritableStream<unknown, unknown>) => call.emit('error', refusal())
        : method.requestStream
          ? (call: grpc.ServerReadableStream<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => (call.on('data', () => undefined), callback(refusal()))
          : (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(refusal()),
    ]),
  );
  const port = await new Promise<number>((resolve, reject) => standby.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  t.teardown(() => standby.forceShutdown());
  standby.addService(schedulerService(), handlers as grpc.UntypedServiceImplementation);
  return `127.0.0.1:${port}`;
}

test('Standbys that name the leader in cr-leader are followed: a write goes to the scheduler they name.', async (t) => {
  const leader = await startScheduler(t);
  const cluster = new Cluster(await contractStandby(t, leader.address), { token: adminToken(leader.address) });
  t.teardown(() => cluster.close());
  const job = await cluster.call('Submit', { name: 'followed', code: Buffer.from('export default async () => 1;'), argsJson: '{}' });
  t.is((await client(t, leader.address).call('GetJob', { job: job.id })).name, 'followed');
});

test('An agent given only a standby follows the leader it names, registers there and runs a job to its uninterrupted result.', async (t) => {
  const args = { steps: 40, stepMs: 10 };
  const leader = await startScheduler(t);
  const standby = await contractStandby(t, leader.address);
  const agent = startCli(t, ['agent', '--scheduler', standby, '--name', 'n1', '--slots', '1', '--work', tempDir(t, 'agent-n1')], { CR_TOKEN: await createToken(leader.address, 'agent') });
  await agent.waitForStderr(new RegExp(`registered with the scheduler at ${leader.address.replace(/\./g, '\\.')} as node n1`));
  t.regex(agent.stderr, new RegExp(`disconnected from the scheduler at ${standby.replace(/\./g, '\\.')}: a standby; it says the leader is at ${leader.address.replace(/\./g, '\\.')}; reconnecting to ${leader.address.replace(/\./g, '\\.')}`));
  const watch = client(t, leader.address);
  const { id } = await watch.call('Submit', { name: 'via-standby', code: await bundleJob(CLUSTER_JOB), argsJson: JSON.stringify(args), retries: 0 });
  const done = await finished(watch, id);
  t.is(done.state, 'succeeded', done.errorJson);
  t.deepEqual(JSON.parse(done.resultJson), await uninterruptedResult(CLUSTER_JOB, args));
});

test('An agent given a closed port and a scheduler registers with the scheduler; when that scheduler is SIGKILLed mid-upload and comes back at the first address, the upload goes there again and the running job keeps its attempt and finishes once.', async (t) => {
  // A large region: each image takes a while to stream, so the kill lands in one.
  const args = { steps: 60, stepMs: 40, length: 4 << 20 };
  const expected = uninterruptedResult(CLUSTER_JOB, args);
  const firstPort = await freePort();
  // A lease far longer than a reconnection can take however loaded the machine: nothing waits for it.
  const before = await startScheduler(t, { leaseS: 60 });
  const addresses = `127.0.0.1:${firstPort},${before.address}`;
  const agent = startCli(t, ['agent', '--scheduler', addresses, '--name', 'n1', '--slots', '1', '--work', tempDir(t, 'agent-n1')], { CR_TOKEN: await createToken(before.address, 'agent') });
  await agent.waitForStderr(new RegExp(`registered with the scheduler at ${before.address.replace(/\./g, '\\.')} as node n1`));
  t.regex(agent.stderr, new RegExp(`disconnected from the scheduler at 127\\.0\\.0\\.1:${firstPort}: cannot connect \\(ECONNREFUSED\\).*; reconnecting to ${before.address.replace(/\./g, '\\.')}`));
  const { id } = await client(t, before.address).call('Submit', { name: 'moving', code: await bundleJob(CLUSTER_JOB), argsJson: JSON.stringify(args), intervalMs: 200, retries: 0 });
  // An image being received: the scheduler's temp file in the job's image directory.
  const jobDir = path.join(before.dataDir, 'images', storeJobName(id));
  const cut = await waitFor('an upload under way', async () => {
    const temp = fs.existsSync(jobDir) ? fs.readdirSync(jobDir).find((f) => f.includes('.tmp.')) : undefined;
    return temp === undefined ? undefined : Number(/^\.(\d+)\.crimg/.exec(temp)?.[1]);
  }, HANG_GUARD_MS, 5);
  before.cli.child.kill('SIGKILL');
  await before.cli.exit;
  // The same database, now served at the agent's first address.
  const after = await startScheduler(t, { dataDir: before.dataDir, port: firstPort, leaseS: 60 });
  await agent.waitForStderr(new RegExp(`registered with the scheduler at 127\\.0\\.0\\.1:${firstPort} as node n1`));
  const watch = client(t, after.address);
  const done = await finished(watch, id);
  t.is(done.state, 'succeeded', done.errorJson);
  t.is(done.attempt, 1, 'the running attempt was reported to the scheduler at the new address and kept');
  t.deepEqual(JSON.parse(done.resultJson), await expected);
  // The image cut mid-way was sent again, whole, rather than given up.
  const { lines } = await watch.call('GetLogs', { job: id, after: 0 });
  t.false(lines.some((l) => l.text.includes(`image ${cut} could not be uploaded`)), lines.map((l) => l.text).join('\n'));
  t.notRegex(agent.stderr, new RegExp(`image ${cut} could not be uploaded`));
});
