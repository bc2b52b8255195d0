// What the adversarial suites share: a real scheduler (plain loopback, or mutual TLS) with a
// real agent process running a victim's job, an attacker that is itself a legitimate node of
// the cluster (its own bound token, or its own certificate), and a snapshot of every database
// row an attack could change, to show that a refused attack changed nothing.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import * as grpc from '@grpc/grpc-js';
import { bundleJob } from '../../scheduler/bundle.js';
import type { ClientCredentials } from '../../scheduler/credentials.js';
import { schedulerClient, unary, type SchedulerClient } from '../../scheduler/proto/load.js';
import type { Assignment__Output, JobInfo__Output } from '../../scheduler/proto/types.js';
import { type CliProcess, startCli, tempDir } from '../runner/helpers.js';
import { CLUSTER_JOB, STEADY_LEASE_S, waitFor } from './helpers.js';

export type Mode = 'loopback' | 'tls';

export interface SecureCluster {
  mode: Mode;
  scheduler: CliProcess;
  address: string;
  dataDir: string;
  /** PEM of the cluster CA (TLS only). */
  ca: string | undefined;
  admin: SchedulerClient;
  /** Credentials with this token (and the CA under TLS). */
  withToken(token: string | undefined): ClientCredentials;
  token(role: 'agent' | 'user' | 'admin', ttlS?: number, label?: string): Promise<string>;
  /** CLI arguments that reach the scheduler as admin. */
  args: string[];
}

/**
 * For the tests that wait for a revoked node's lease to run out: still well above the gaps a
 * starved agent's heartbeats show on two loaded cores (3 s leases expired there).
 */
export const REVOKED_LEASE_S = 20;

// Leases no node of an attack test outlives by accident: "nothing changed" must not fail because a
// starved agent missed a heartbeat.
export async function startSecureCluster(t: ExecutionContext, mode: Mode, leaseS = STEADY_LEASE_S): Promise<SecureCluster> {
  const dataDir = tempDir(t, `adversary-${mode}`);
  const scheduler = startCli(t, ['serve', '--listen', '127.0.0.1', '--port', '0', '--data', dataDir, '--no-local-agent', '--lease-timeout', String(leaseS), ...(mode === 'tls' ? ['--tls'] : [])]);
  t.teardown(() => {
    if (t.passed === false) t.log(scheduler.describe());
  });
  await scheduler.waitUntil(() => /listening on \S+\n/.test(scheduler.stdout), 'the scheduler to listen');
  const address = /listening on (\S+)\n/.exec(scheduler.stdout)![1]!;
  const ca = mode === 'tls' ? fs.readFileSync(path.join(dataDir, 'tls', 'ca.pem'), 'utf8') : undefined;
  const tokenFile = path.join(dataDir, 'admin.token');
  const withToken = (token: string | undefined): ClientCredentials => ({ token, ca });
  const admin = schedulerClient(address, withToken(fs.readFileSync(tokenFile, 'utf8').trim()));
  t.teardown(() => admin.close());
  const token = async (role: 'agent' | 'user' | 'admin', ttlS = 3600, label = ''): Promise<string> => (await unary(admin, 'CreateToken', { role, ttlS, label })).token;
  const args = ['--scheduler', address, '--token-file', tokenFile, ...(mode === 'tls' ? ['--ca', path.join(dataDir, 'tls', 'ca.pem')] : [])];
  return { mode, scheduler, address, dataDir, ca, admin, withToken, token, args };
}

/** A real agent process named `name`, joined (TLS) or bound (loopback) with a fresh agent token. */
export async function startRealAgent(t: ExecutionContext, cluster: SecureCluster, name: string): Promise<CliProcess> {
  const work = tempDir(t, `agent-${name}`);
  const agent = startCli(t, ['agent', '--name', name, '--slots', '1', '--work', work, ...cluster.args.filter((a, i, all) => a !== '--token-file' && all[i - 1] !== '--token-file')], {
    CR_TOKEN: await cluster.token('agent'),
  });
  t.teardown(() => {
    if (t.passed === false) t.log(agent.describe());
  });
  await agent.waitForStderr(/registered with the scheduler/);
  return agent;
}

/** A node of the cluster the test drives itself: connected (so it holds its name), its client and its assignments. */
export interface OwnNode {
  name: string;
  client: SchedulerClient;
  credentials: ClientCredentials;
  assignments: Assignment__Output[];
}

/**
 * The attacker: a legitimate node `name` of the cluster. On loopback its own agent token, bound
 * by its first Connect; under TLS its own certificate, from a Join with its own join token.
 */
export async function ownNode(t: ExecutionContext, cluster: SecureCluster, name: string): Promise<OwnNode> {
  let credentials: ClientCredentials;
  if (cluster.mode === 'tls') {
    const joiner = schedulerClient(cluster.address, cluster.withToken(await cluster.token('agent')));
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    try {
      const reply = await unary(joiner, 'Join', { node: name, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string });
      credentials = { ca: cluster.ca, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert: reply.certificatePem };
    } finally {
      joiner.close();
    }
  } else {
    credentials = cluster.withToken(await cluster.token('agent'));
  }
  const client = schedulerClient(cluster.address, credentials);
  const assignments: Assignment__Output[] = [];
  const stream = client.Connect({ node: name, slots: 1, running: [], version: 'adversary' });
  stream.on('error', () => undefined);
  const registered = new Promise<string>((resolve) => {
    stream.on('data', (c: { command?: string; registered?: { session: string; heartbeatIntervalMs: number }; assign?: Assignment__Output }) => {
      if (c.command === 'registered') {
        const beat = setInterval(() => void unary(client, 'Heartbeat', { node: name, session: c.registered!.session }).catch(() => undefined), c.registered!.heartbeatIntervalMs);
        t.teardown(() => clearInterval(beat));
        resolve(c.registered!.session);
      }
      if (c.command === 'assign') assignments.push(c.assign!);
    });
  });
  t.teardown(() => {
    stream.cancel();
    client.close();
  });
  await registered;
  return { name, client, credentials, assignments };
}

/** A running job of the victim with exactly one image, that checkpoints no more on its own. */
export async function victimJob(t: ExecutionContext, cluster: SecureCluster, userToken: string): Promise<JobInfo__Output> {
  // Bundled here and submitted over gRPC as the user: a `submit` process costs seconds on a loaded machine.
  const user = schedulerClient(cluster.address, cluster.withToken(userToken));
  t.teardown(() => user.close());
  const code = await bundleJob(CLUSTER_JOB);
  const { id } = await unary(user, 'Submit', { name: 'victim', code, argsJson: JSON.stringify({ steps: 1_000_000, stepMs: 5 }), intervalMs: 36_000_000, retries: 3 });
  await waitFor('the victim job to run', async () => ((await unary(cluster.admin, 'GetJob', { job: id })).state === 'running' ? true : undefined));
  await unary(cluster.admin, 'Checkpoint', { job: id });
  return waitFor('its first image', async () => {
    const j = await unary(cluster.admin, 'GetJob', { job: id });
    return j.images === 1 && j.pending === '' ? j : undefined;
  });
}

/** The gRPC status a call ended with (OK when it succeeded). */
export async function statusOf(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await promise;
    return { code: grpc.status.OK, details: '' };
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, details: e.details };
  }
}

/** Downloads image `sequence` of `job` as `attempt` with `secret`; the status the stream ended with. */
export function download(client: SchedulerClient, job: number, sequence: number, attempt: number, secret: string): Promise<{ code: number; details: string; bytes: number }> {
  return new Promise((resolve) => {
    let bytes = 0;
    const call = client.DownloadImage({ job, sequence, attempt, secret });
    call.on('data', (c: { data: Buffer }) => (bytes += c.data.length));
    call.on('error', () => undefined);
    call.on('status', (s: grpc.StatusObject) => resolve({ code: s.code, details: s.details, bytes }));
  });
}

/** Uploads a forged "image" (header, one chunk, trailer) as `attempt` with `secret`; the call's status and reply. */
export function forgeUpload(client: SchedulerClient, header: { job: number; attempt: number; sequence: number; node: string; secret: string }): Promise<{ code: number; details: string; accepted: boolean }> {
  const bytes = crypto.randomBytes(4096);
  return new Promise((resolve) => {
    const call = client.UploadImage((err, reply) => resolve(err ? { code: err.code, details: err.details, accepted: false } : { code: grpc.status.OK, details: '', accepted: reply!.accepted }));
    call.on('error', () => undefined);
    call.write({ header: { ...header, bytes: bytes.length } });
    call.write({ chunk: bytes });
    call.write({ trailer: { sha256: crypto.createHash('sha256').update(bytes).digest('hex') } });
    call.end();
  });
}

/**
 * Every row an attack on `job` could change: the job's state, node, attempt, result and
 * counters (not its progress, which its own agent moves), its attempts and images, the files in
 * its image directory, and the cluster's tokens, certificates and token bindings.
 */
export function snapshot(cluster: SecureCluster, job: number): unknown {
  const db = new Database(path.join(cluster.dataDir, 'scheduler.db'), { readonly: true, fileMustExist: true });
  try {
    const all = (sql: string, ...params: unknown[]): unknown[] => db.prepare(sql).all(...params);
    const dir = path.join(cluster.dataDir, 'images', `job-${job}`);
    return {
      job: all(`SELECT id, name, state, attempt, node, pending, retries_used, moves, result_json, error_json, finished_at FROM jobs WHERE id = ?`, job),
      jobs: all(`SELECT COUNT(*) AS n FROM jobs`),
      attempts: all(`SELECT * FROM attempts WHERE job = ? ORDER BY number`, job),
      secrets: all(`SELECT job, attempt, node, hex(secret_sha256) AS h FROM attempt_secrets ORDER BY job, attempt`),
      images: all(`SELECT * FROM images WHERE job = ? ORDER BY sequence`, job),
      files: fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => !f.startsWith('.')).sort() : [],
      tokens: all(`SELECT id, role, revoked_at FROM tokens ORDER BY id`),
      certificates: all(`SELECT * FROM node_certificates ORDER BY serial`),
      bindings: all(`SELECT token, node FROM token_nodes ORDER BY token`),
      owners: all(`SELECT * FROM job_owners ORDER BY job`),
    };
  } finally {
    db.close();
  }
}

/** The job's event lines (as `logs` shows them), read as admin. */
export async function events(cluster: SecureCluster, job: number): Promise<string[]> {
  const { lines } = await unary(cluster.admin, 'GetLogs', { job, after: 0 });
  return lines.filter((l) => l.kind === 'event').map((l) => l.text);
}

/**
 * A node acting for another node's job: Report, Finish, UploadImage and DownloadImage from the
 * attacker `mallory` (a legitimate node) for the victim's running attempt, with the right
 * attempt number and no secret, a made-up secret, and a wrong attempt number. Each is
 * PERMISSION_DENIED, changes nothing, and leaves an event of the job naming mallory.
 */
export async function nodeForAnotherNodesJob(t: ExecutionContext, cluster: SecureCluster): Promise<void> {
  const victimToken = await cluster.token('user', 3600, 'victim');
  await startRealAgent(t, cluster, 'honest');
  const job = await victimJob(t, cluster, victimToken);
  t.is(job.node, 'honest');
  const mallory = await ownNode(t, cluster, 'mallory');
  const before = snapshot(cluster, job.id);
  const made = crypto.randomBytes(32).toString('base64url');
  const tries = [
    { attempt: job.attempt, secret: '', what: 'the right attempt, no secret' },
    { attempt: job.attempt, secret: made, what: 'the right attempt, a made-up secret' },
    { attempt: job.attempt + 1, secret: made, what: 'the next attempt number' },
  ];
  for (const { attempt, secret, what } of tries) {
    const base = { job: job.id, attempt, secret };
    const report = await statusOf(unary(mallory.client, 'Report', { ...base, progress: 0.999, message: 'forged', logs: ['forged line'] }));
    const finish = await statusOf(unary(mallory.client, 'Finish', { ...base, outcome: 'SUCCEEDED', resultJson: '{"forged":true}' }));
    const upload = await forgeUpload(mallory.client, { ...base, sequence: 2, node: 'mallory' });
    const down = await download(mallory.client, job.id, 1, attempt, secret);
    for (const [rpc, s] of [['Report', report], ['Finish', finish], ['UploadImage', upload], ['DownloadImage', down]] as const) {
      t.is(s.code, grpc.status.PERMISSION_DENIED, `${rpc} with ${what}: ${s.details}`);
      t.regex(s.details, new RegExp(`(certificate of mallory|token [0-9a-f]{12} of node mallory) may not ${rpc} for attempt ${attempt} of job ${job.id}`), `${rpc} with ${what}`);
    }
    t.is(down.bytes, 0, 'no byte of the image reached the attacker');
  }
  // The upload's header names the victim's node: the scheduler knows who is calling.
  const spoofed = await forgeUpload(mallory.client, { job: job.id, attempt: job.attempt, secret: made, sequence: 2, node: 'honest' });
  t.is(spoofed.code, grpc.status.PERMISSION_DENIED);
  t.regex(spoofed.details, /this agent is node mallory: it cannot upload for node "honest"/);
  t.deepEqual(snapshot(cluster, job.id), before, 'nothing changed');
  const after = await unary(cluster.admin, 'GetJob', { job: job.id });
  t.not(after.message, 'forged');
  const lines = await events(cluster, job.id);
  for (const rpc of ['Report', 'Finish', 'UploadImage', 'DownloadImage']) {
    t.is(lines.filter((l) => new RegExp(`^refused ${rpc} from (certificate of mallory|token [0-9a-f]{12} of node mallory): `).test(l)).length, 3, `${rpc}: ${lines.join('\n')}`);
  }
  const { lines: logs } = await unary(cluster.admin, 'GetLogs', { job: job.id, after: 0 });
  t.false(logs.some((l) => l.text.includes('forged')), 'no forged log line');
  // The honest node is unharmed: it still runs the job and may report for it.
  t.like(after, { state: 'running', node: 'honest', attempt: job.attempt });
}
