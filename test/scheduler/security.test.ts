// The authenticated cluster (docs/security-cluster.md): every call needs a credential of a role
// allowed to make it; refusals say which and are logged; a scheduler open to the network talks
// TLS, and an agent joins it with a token and then talks mutual TLS.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { schedulerClient, unary } from '../../scheduler/proto/load.js';
import { runCli, sleep, startCli, tempDir } from '../runner/helpers.js';
import { statusOf } from './adversary.js';
import { CLUSTER_JOB, adminToken, createToken, startScheduler, waitFor } from './helpers.js';
import { HANG_GUARD_MS } from '../hang-guard.js';

function call(address: string, token: string | undefined, method: 'ListJobs' | 'Drain' | 'Submit' | 'Heartbeat' | 'CreateToken' | 'RevokeToken'): Promise<unknown> {
  const c = schedulerClient(address, { token });
  const requests = { ListJobs: {}, Drain: { node: 'n1' }, Submit: { name: 'x', code: Buffer.from('x'), argsJson: '{}' }, Heartbeat: { node: 'n1', session: 's' }, CreateToken: { role: 'admin' }, RevokeToken: { id: '000000000000' } };
  return unary(c, method, requests[method] as never, HANG_GUARD_MS).finally(() => c.close());
}

test('Missing, malformed, unknown, expired and revoked tokens get UNAUTHENTICATED saying which; each refusal is logged without the secret.', async (t) => {
  const scheduler = await startScheduler(t);
  const { address } = scheduler;
  const missing = await statusOf(call(address, undefined, 'ListJobs'));
  t.is(missing.code, grpc.status.UNAUTHENTICATED);
  t.regex(missing.details, /no credentials: pass a token with --token-file FILE or CR_TOKEN/);
  const malformed = await statusOf(call(address, 'hunter2', 'ListJobs'));
  t.is(malformed.code, grpc.status.UNAUTHENTICATED);
  t.regex(malformed.details, /malformed/);
  const user = await createToken(address, 'user');
  const forged = `${user.slice(0, -4)}AAAA`;
  const unknown = await statusOf(call(address, forged, 'ListJobs'));
  t.is(unknown.code, grpc.status.UNAUTHENTICATED);
  t.regex(unknown.details, /is not known to this scheduler/);
  const shortLived = await createToken(address, 'user', 1);
  await sleep(1500);
  const expired = await statusOf(call(address, shortLived, 'ListJobs'));
  t.is(expired.code, grpc.status.UNAUTHENTICATED);
  t.regex(expired.details, /expired at .*ask an admin for a new one/);
  t.is((await statusOf(call(address, user, 'ListJobs'))).code, grpc.status.OK);
  const id = /^crt_([0-9a-f]{12})_/.exec(user)![1]!;
  const revoke = await runCli(t, ['token', 'revoke', id, ...scheduler.args]);
  t.is(revoke.code, 0, revoke.stderr);
  const revoked = await statusOf(call(address, user, 'ListJobs'));
  t.is(revoked.code, grpc.status.UNAUTHENTICATED);
  t.regex(revoked.details, /was revoked/);
  await waitFor('the refusals in the log', async () => ((scheduler.cli.stderr.match(/refused ListJobs/g) ?? []).length >= 5 ? true : undefined));
  t.false(scheduler.cli.stderr.includes(user.slice(18)), 'no secret in the log');
  t.false(scheduler.cli.stderr.includes(adminToken(address).slice(18)), 'no secret in the log');
  const list = await runCli(t, ['token', 'list', '--json', ...scheduler.args]);
  const tokens = JSON.parse(list.stdout) as { id: string; state: string }[];
  t.is(tokens.find((x) => x.id === id)?.state, 'revoked');
  t.false(list.stdout.includes('crt_'), 'token list shows no secrets');
});

test('Each role may call only its RPCs: others get PERMISSION_DENIED naming the role needed.', async (t) => {
  const scheduler = await startScheduler(t);
  const { address } = scheduler;
  const [user, agent, admin] = await Promise.all([createToken(address, 'user'), createToken(address, 'agent'), createToken(address, 'admin')]);
  const denied = async (token: string, method: Parameters<typeof call>[2], needs: RegExp): Promise<void> => {
    const s = await statusOf(call(address, token, method));
    t.is(s.code, grpc.status.PERMISSION_DENIED, `${method}: ${s.details}`);
    t.regex(s.details, needs);
  };
  await denied(user, 'Drain', /Drain needs the role admin; this call came with the role user/);
  await denied(user, 'CreateToken', /needs the role admin/);
  await denied(user, 'RevokeToken', /needs the role admin/);
  await denied(user, 'Heartbeat', /needs the role agent/);
  await denied(agent, 'Submit', /needs the role user or admin; this call came with the role agent/);
  await denied(agent, 'ListJobs', /needs the role user or admin/);
  await denied(admin, 'Heartbeat', /needs the role agent/);
  t.is((await statusOf(call(address, admin, 'CreateToken'))).code, grpc.status.OK);
  // An agent token's first Connect binds it to its node; before that it may call nothing else.
  await denied(agent, 'Heartbeat', /agent token [0-9a-f]{12} is not bound to a node yet/);
  // The CLI says the same, without a stack trace.
  const file = path.join(tempDir(t, 'tok'), 'user.token');
  fs.writeFileSync(file, user, { mode: 0o600 });
  const drain = await runCli(t, ['drain', 'n1', '--scheduler', address, '--token-file', file]);
  t.is(drain.code, 1);
  t.regex(drain.stderr, /^cr-scheduler: permission denied: Drain needs the role admin/);
  await waitFor('the refusals in the log', async () => (scheduler.cli.stderr.includes('refused Drain') ? true : undefined));
});

test('serve refuses to listen on a network address without TLS, and says how to fix it.', async (t) => {
  const data = tempDir(t, 'open');
  const run = await runCli(t, ['serve', '--listen', '0.0.0.0', '--port', '0', '--no-tls', '--data', data, '--no-local-agent']);
  t.is(run.code, 1);
  t.regex(run.stderr, /refusing to listen on 0\.0\.0\.0 without TLS/);
  t.is(run.stdout, '');
});

test('Over TLS an agent joins with an agent token, gets a client certificate, and runs a job end to end; a bad join token is refused.', async (t) => {
  const data = tempDir(t, 'tls-scheduler');
  const cli = startCli(t, ['serve', '--listen', '127.0.0.1', '--tls', '--port', '0', '--data', data, '--no-local-agent', '--lease-timeout', '3']);
  await cli.waitUntil(() => /listening on \S+\n/.test(cli.stdout), 'the scheduler to listen');
  const address = /listening on (\S+)\n/.exec(cli.stdout)![1]!;
  for (const f of ['ca.key', 'ca.pem', 'server.key', 'server.pem']) t.is(fs.statSync(path.join(data, 'tls', f)).mode & 0o777, 0o600, f);
  t.is(fs.statSync(path.join(data, 'admin.token')).mode & 0o777, 0o600);
  const ca = path.join(data, 'tls', 'ca.pem');
  const tokenFile = path.join(data, 'admin.token');
  const args = ['--scheduler', address, '--token-file', tokenFile, '--ca', ca];
  // Plain TCP to a TLS scheduler does not get through.
  const plain = await runCli(t, ['list', '--scheduler', address, '--token-file', tokenFile]);
  t.is(plain.code, 1);
  const create = await runCli(t, ['token', 'create', '--role', 'agent', '--ttl', '600', ...args]);
  t.is(create.code, 0, create.stderr);
  const joinToken = create.stdout.trim();
  const bad = await runCli(t, ['agent', '--scheduler', address, '--ca', ca, '--name', 'bad', '--work', tempDir(t, 'bad')], { CR_TOKEN: `${joinToken.slice(0, -4)}AAAA` });
  t.is(bad.code, 1);
  t.regex(bad.stderr, /refused to let this agent join: not authenticated: token [0-9a-f]{12} is not known/);
  const work = tempDir(t, 'agent');
  const agent = startCli(t, ['agent', '--scheduler', address, '--ca', ca, '--name', 'n1', '--slots', '1', '--work', work], { CR_TOKEN: joinToken });
  await agent.waitForStderr(/registered with the scheduler/);
  for (const f of ['agent.key', 'agent.pem']) t.is(fs.statSync(path.join(work, 'tls', f)).mode & 0o777, 0o600, f);
  await waitFor('the join in the log', async () => (cli.stderr.includes('node n1 joined with token') ? true : undefined));
  const submitted = await runCli(t, ['submit', CLUSTER_JOB, '--args', '{"steps": 20, "stepMs": 5}', '--interval', '0.02', ...args]);
  t.is(submitted.code, 0, submitted.stderr);
  const id = Number(submitted.stdout.trim());
  const status = await runCli(t, ['status', String(id), '--json', ...args]);
  t.is(status.code, 0, status.stderr);
  // The scheduler's address is an IP: Node's warning about it as a TLS server name is not shown.
  for (const run of [create, submitted, status]) t.false(/Warning/.test(run.stderr), run.stderr);
  const done = await waitFor('the job to end', async () => {
    const run = await runCli(t, ['status', String(id), '--json', ...args]);
    const j = JSON.parse(run.stdout) as { state: string };
    return j.state === 'succeeded' || j.state === 'failed' ? j : undefined;
  });
  t.is(done.state, 'succeeded');
  t.false(agent.stderr.includes(joinToken) || cli.stderr.includes(joinToken), 'the token is in no log');
  t.false(/Warning/.test(agent.stderr), agent.stderr);
});
