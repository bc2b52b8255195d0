// The adversarial suite under mutual TLS: a node is its certificate's name, an agent token
// only joins, a name joins once, revoked certificates are refused on every call. Each attack
// is refused with the right status, changes nothing, and leaves an event or a log line naming
// the caller. The same node attacks on loopback: adversarial-loopback.test.ts.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { schedulerClient, unary } from '../../scheduler/proto/load.js';
import { ClusterCa } from '../../scheduler/server/pki.js';
import { sleep, startCli, tempDir } from '../runner/helpers.js';
import { download, forgeUpload, nodeForAnotherNodesJob, ownNode, REVOKED_LEASE_S, snapshot, startRealAgent, startSecureCluster, statusOf, victimJob } from './adversary.js';
import { waitFor } from './helpers.js';

function publicKey(): { key: string; publicKeyPem: string } {
  const { privateKey, publicKey: pub } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicKeyPem: pub.export({ type: 'spki', format: 'pem' }) as string };
}

test("TLS: a node cannot report, finish, upload or download for another node's job, with or without a valid attempt number.", async (t) => {
  await nodeForAnotherNodesJob(t, await startSecureCluster(t, 'tls'));
});

test('TLS: a join token used as a bearer credential serves no agent RPC but Join, and changes nothing.', async (t) => {
  const cluster = await startSecureCluster(t, 'tls');
  await startRealAgent(t, cluster, 'honest');
  const job = await victimJob(t, cluster, await cluster.token('user', 3600, 'victim'));
  const bearer = schedulerClient(cluster.address, cluster.withToken(await cluster.token('agent')));
  t.teardown(() => bearer.close());
  const before = snapshot(cluster, job.id);
  const only = /agent token [0-9a-f]{12} .*only joins \(Join\) on a scheduler with TLS/;
  const connect = await new Promise<grpc.StatusObject>((resolve) => {
    const call = bearer.Connect({ node: 'honest', slots: 1, running: [], version: 'x' });
    call.on('data', () => call.cancel());
    call.on('error', () => undefined);
    call.on('status', resolve);
  });
  const calls = {
    Connect: connect,
    Heartbeat: await statusOf(unary(bearer, 'Heartbeat', { node: 'honest', session: 'x' })),
    GetCode: await statusOf(unary(bearer, 'GetCode', { sha256: '00'.repeat(32) })),
    Report: await statusOf(unary(bearer, 'Report', { job: job.id, attempt: job.attempt, progress: 0.9, message: 'forged' })),
    Finish: await statusOf(unary(bearer, 'Finish', { job: job.id, attempt: job.attempt, outcome: 'SUCCEEDED', resultJson: '1' })),
    UploadImage: await forgeUpload(bearer, { job: job.id, attempt: job.attempt, sequence: 2, node: 'honest', secret: '' }),
    DownloadImage: await download(bearer, job.id, 1, job.attempt, ''),
    Renew: await statusOf(unary(bearer, 'Renew', { publicKeyPem: publicKey().publicKeyPem })),
  };
  for (const [rpc, s] of Object.entries(calls)) {
    t.is(s.code, grpc.status.PERMISSION_DENIED, `${rpc}: ${s.details}`);
    t.regex(s.details, only, rpc);
  }
  t.deepEqual(snapshot(cluster, job.id), before, 'nothing changed');
  t.like(await unary(cluster.admin, 'GetJob', { job: job.id }), { state: 'running', node: 'honest' });
  for (const rpc of Object.keys(calls)) t.regex(cluster.scheduler.stderr, new RegExp(`refused ${rpc} from .*: PERMISSION_DENIED: agent token`), rpc);
});

test('TLS: a name joins once; after "node revoke" its certificate is refused on every call, its agent stops, and the name may join again.', async (t) => {
  const cluster = await startSecureCluster(t, 'tls', REVOKED_LEASE_S);
  const honest = await startRealAgent(t, cluster, 'honest');
  const job = await victimJob(t, cluster, await cluster.token('user', 3600, 'victim'));
  const joinToken = await cluster.token('agent');
  const joiner = schedulerClient(cluster.address, cluster.withToken(joinToken));
  t.teardown(() => joiner.close());
  const before = snapshot(cluster, job.id);
  const taken = await statusOf(unary(joiner, 'Join', { node: 'honest', publicKeyPem: publicKey().publicKeyPem }));
  t.is(taken.code, grpc.status.PERMISSION_DENIED);
  t.regex(taken.details, /node name honest already holds a live certificate \(serial [0-9A-F]+, expires .*\): .*cr-scheduler node revoke honest/);
  // The real agent command says the same and stops.
  const thief = await startCli(t, ['agent', '--name', 'honest', '--work', tempDir(t, 'thief'), '--scheduler', cluster.address, '--ca', path.join(cluster.dataDir, 'tls', 'ca.pem')], { CR_TOKEN: joinToken }).exit;
  t.is(thief.code, 1);
  t.regex(thief.stderr, /refused to let this agent join: permission denied: node name honest already holds a live certificate/);
  t.deepEqual(snapshot(cluster, job.id), before, 'nothing changed');
  t.regex(cluster.scheduler.stderr, /refused Join from .*: PERMISSION_DENIED: node name honest already holds a live certificate/);

  const revoke = await startCli(t, ['node', 'revoke', 'honest', ...cluster.args]).exit;
  t.is(revoke.code, 0, revoke.stderr);
  t.regex(revoke.stdout, /node honest revoked \(1 certificate and 0 agent tokens\)/);
  const exit = await honest.exit;
  t.is(exit.code, 1, `signal ${exit.signal}`);
  t.regex(exit.stderr, /refused this agent: the certificate of node honest \(serial [0-9A-F]+\) was revoked/);
  // Its key and certificate, used directly: every call refused.
  const work = /--work (\S+)/.exec(honest.args.join(' '))?.[1];
  const stolen = schedulerClient(cluster.address, {
    ca: cluster.ca,
    key: fs.readFileSync(path.join(work!, 'tls', 'agent.key'), 'utf8'),
    cert: fs.readFileSync(path.join(work!, 'tls', 'agent.pem'), 'utf8'),
  });
  t.teardown(() => stolen.close());
  const refused = await statusOf(unary(stolen, 'GetCode', { sha256: '00'.repeat(32) }));
  t.is(refused.code, grpc.status.UNAUTHENTICATED);
  t.regex(refused.details, /the certificate of node honest \(serial [0-9A-F]+\) was revoked/);
  // The name joins again (a new machine), and the job, requeued when the old lease ran out, runs there.
  const joined = await unary(joiner, 'Join', { node: 'honest', publicKeyPem: publicKey().publicKeyPem });
  t.regex(joined.certificatePem, /BEGIN CERTIFICATE/);
  await waitFor('the job to leave the revoked node', async () => {
    const j = await unary(cluster.admin, 'GetJob', { job: job.id });
    return j.state === 'queued' || j.attempt > job.attempt ? j : undefined;
  });
});

test('TLS: missing, bad, expired and revoked tokens get UNAUTHENTICATED, a wrong role PERMISSION_DENIED; an expired certificate is no credential; Renew needs the certificate it renews.', async (t) => {
  const cluster = await startSecureCluster(t, 'tls');
  const user = await cluster.token('user');
  const shortLived = await cluster.token('user', 1);
  const revokedUser = await cluster.token('user');
  await unary(cluster.admin, 'RevokeToken', { id: /^crt_([0-9a-f]{12})_/.exec(revokedUser)![1]! });
  const node = await ownNode(t, cluster, 'n1');
  await sleep(1500); // the short-lived token expires
  const call = async (token: string | undefined, method: 'ListJobs' | 'Drain' | 'Report'): Promise<{ code: number; details: string }> => {
    const c = schedulerClient(cluster.address, cluster.withToken(token));
    const requests = { ListJobs: {}, Drain: { node: 'n1' }, Report: { job: 1, attempt: 1 } };
    try {
      return await statusOf(unary(c, method, requests[method] as never));
    } finally {
      c.close();
    }
  };
  const unauthenticated: [string | undefined, RegExp][] = [
    [undefined, /no credentials/],
    ['crt_bad', /malformed/],
    [`${user.slice(0, -4)}AAAA`, /is not known to this scheduler/],
    [shortLived, /expired at/],
    [revokedUser, /was revoked/],
  ];
  for (const [token, why] of unauthenticated) {
    const s = await call(token, 'ListJobs');
    t.is(s.code, grpc.status.UNAUTHENTICATED, s.details);
    t.regex(s.details, why);
  }
  const wrong = await call(user, 'Drain');
  t.is(wrong.code, grpc.status.PERMISSION_DENIED);
  t.regex(wrong.details, /Drain needs the role admin/);
  const userReport = await call(user, 'Report');
  t.is(userReport.code, grpc.status.PERMISSION_DENIED);
  // A node's certificate is an agent's: it cannot call users' RPCs.
  const submit = await statusOf(unary(node.client, 'Submit', { name: 'x', code: Buffer.from('x'), argsJson: '{}' }));
  t.is(submit.code, grpc.status.PERMISSION_DENIED);
  t.regex(submit.details, /Submit needs the role user or admin; this call came with the role agent \(certificate of n1\)/);
  t.deepEqual((await unary(cluster.admin, 'ListJobs', { states: [], all: true })).jobs, [], 'nothing was submitted');
  await waitFor('the refusals in the log', async () => ((cluster.scheduler.stderr.match(/refused ListJobs from/g) ?? []).length >= 5 ? true : undefined));

  // Renew: with the certificate, a new certificate (another serial) that works; the old one stays valid until it expires.
  const fresh = publicKey();
  const renewed = await unary(node.client, 'Renew', { publicKeyPem: fresh.publicKeyPem });
  const serial = (pem: string): string => new crypto.X509Certificate(pem).serialNumber;
  t.not(serial(renewed.certificatePem), serial(node.credentials.cert!));
  t.regex(new crypto.X509Certificate(renewed.certificatePem).subject, /CN=n1/);
  const again = schedulerClient(cluster.address, { ca: cluster.ca, key: fresh.key, cert: renewed.certificatePem });
  t.teardown(() => again.close());
  t.is((await statusOf(unary(again, 'GetCode', { sha256: '00'.repeat(32) }))).code, grpc.status.NOT_FOUND);
  t.regex(cluster.scheduler.stderr, /node n1 renewed its client certificate/);

  // A certificate signed by the cluster CA but expired: TLS itself refuses the connection.
  const ca = await ClusterCa.open(cluster.dataDir);
  const old = publicKey();
  const expired = await ca.agentCertificate('n2', old.publicKeyPem, 1 / 86_400);
  await sleep(1500);
  const late = schedulerClient(cluster.address, { ca: cluster.ca, key: old.key, cert: expired.pem });
  t.teardown(() => late.close());
  // The server asks for client certificates without requiring one (users come with tokens): one
  // that does not verify is no credential at all.
  const refused = await statusOf(unary(late, 'GetCode', { sha256: '00'.repeat(32) }, 5000));
  t.is(refused.code, grpc.status.UNAUTHENTICATED, refused.details);
  t.regex(refused.details, /no credentials/);
});
