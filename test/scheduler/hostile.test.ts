// Hostile callers: random and malformed requests to every unary RPC get a proper gRPC status
// (never INTERNAL or UNKNOWN, never a crash, never a file outside the data directory), and a
// flood of calls does not starve the agents' heartbeats.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import * as grpc from '@grpc/grpc-js';
import { schedulerClient, unary, type UnaryRpcs } from '../../scheduler/proto/load.js';
import { tempDir, testSeed } from '../runner/helpers.js';
import { adminToken, createToken, startAgent, startScheduler } from './helpers.js';
import { HANG_GUARD_MS } from '../hang-guard.js';

const PROPER = new Set([grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND, grpc.status.FAILED_PRECONDITION, grpc.status.PERMISSION_DENIED, grpc.status.UNAUTHENTICATED]);

const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('', '..', '../../../etc/passwd', '/tmp/x', 'a/../../b', 'job-1/../../..', '\u0000', 'node\nname', '%2e%2e%2f', 'crt_000000000000_' + 'A'.repeat(43)),
  fc.string({ minLength: 1, maxLength: 4 }).map((s) => s.repeat(50_000)),
);
const id = fc.oneof(fc.constantFrom(0, 1, 2, 0xffffffff), fc.nat({ max: 0xffffffff }));

const REQUESTS: { [K in keyof UnaryRpcs]?: fc.Arbitrary<UnaryRpcs[K][0]> } = {
  Heartbeat: fc.record({ node: nasty, session: nasty }),
  GetCode: fc.record({ sha256: nasty }),
  Report: fc.record({ job: id, attempt: id, secret: nasty, progress: fc.double(), message: nasty }),
  Finish: fc.record({ job: id, attempt: id, secret: nasty, outcome: fc.constantFrom('SUCCEEDED', 'FAILED', 'CANCELLED', 'STOPPED'), resultJson: nasty, errorJson: nasty }),
  Submit: fc.record({ name: nasty, code: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)), argsJson: nasty, priority: fc.integer({ min: -1000, max: 1000 }), retries: id, intervalMs: id, fullEvery: id }),
  GetJob: fc.record({ job: id }),
  ListJobs: fc.record({ states: fc.array(nasty, { maxLength: 3 }), all: fc.boolean() }),
  GetLogs: fc.record({ job: id, after: id }),
  Cancel: fc.record({ job: id }),
  Checkpoint: fc.record({ job: id }),
  Drain: fc.record({ node: nasty, undo: fc.boolean() }),
  ListImages: fc.record({ job: id }),
  Join: fc.record({ node: nasty, publicKeyPem: nasty }),
  CreateToken: fc.record({ role: fc.oneof(nasty, fc.constantFrom('agent', 'user', 'admin')), ttlS: id, label: nasty }),
  RevokeToken: fc.record({ id: fc.oneof(nasty, fc.stringMatching(/^[0-9a-f]{12}$/)) }),
  Renew: fc.record({ publicKeyPem: nasty }),
  RevokeNode: fc.record({ node: nasty }),
};

function codeOf(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
  return promise.then(
    () => ({ code: grpc.status.OK, details: '' }),
    (err: grpc.ServiceError) => ({ code: err.code, details: err.details }),
  );
}

test('Every unary RPC answers random, huge and path-traversal requests with a proper status; nothing is written outside the data directory.', async (t) => {
  const parent = tempDir(t, 'fuzz');
  const dataDir = path.join(parent, 'data');
  const scheduler = await startScheduler(t, { dataDir });
  const tokens = { admin: adminToken(scheduler.address), agent: await createToken(scheduler.address, 'agent'), user: await createToken(scheduler.address, 'user') };
  const clients = Object.fromEntries(Object.entries(tokens).map(([role, token]) => [role, schedulerClient(scheduler.address, { token })]));
  t.teardown(() => Object.values(clients).forEach((c) => c.close()));
  // The agent token's first Connect binds it to node "fuzz": its calls then reach the handlers' checks.
  const held = clients.agent!.Connect({ node: 'fuzz', slots: 1, running: [], version: 'fuzz' });
  held.on('error', () => undefined);
  await new Promise((resolve) => held.once('data', resolve));
  t.teardown(() => held.cancel());
  const methods = Object.keys(REQUESTS) as (keyof UnaryRpcs)[];
  const call = fc.constantFrom(...methods).chain((method) => fc.tuple(fc.constant(method), REQUESTS[method]! as fc.Arbitrary<unknown>, fc.constantFrom('admin', 'agent', 'user')));
  await fc.assert(
    fc.asyncProperty(call, async ([method, request, role]) => {
      const { code, details } = await codeOf(unary(clients[role]!, method, request as never, HANG_GUARD_MS));
      if (!PROPER.has(code)) throw new Error(`${method} as ${role} answered ${grpc.status[code]}: ${details}`);
      if (details.length > 2000) throw new Error(`${method}: a ${details.length}-character message echoes the input`);
    }),
    { numRuns: 300, seed: testSeed() },
  );
  t.is(scheduler.cli.child.exitCode, null, 'the scheduler is still running');
  t.deepEqual(fs.readdirSync(parent), ['data'], 'nothing outside the data directory');
  const { jobs } = await unary(clients.admin!, 'ListJobs', { states: [] });
  t.true(Array.isArray(jobs));
});

test('A flood of concurrent calls for a few seconds does not starve heartbeats: no healthy node is declared dead.', async (t) => {
  const scheduler = await startScheduler(t);
  for (const name of ['a', 'b']) await startAgent(t, scheduler.address, name);
  const user = await createToken(scheduler.address, 'user');
  const floodClients = Array.from({ length: 4 }, (_, i) => schedulerClient(scheduler.address, { token: i === 3 ? 'crt_bad' : user }));
  t.teardown(() => floodClients.forEach((c) => c.close()));
  const until = Date.now() + 4000; // bounded load, not a timing assertion
  let calls = 0;
  await Promise.all(
    Array.from({ length: 64 }, async (_, i) => {
      const c = floodClients[i % floodClients.length]!;
      while (Date.now() < until) {
        await codeOf(unary(c, i % 2 === 0 ? 'ListJobs' : 'GetJob', (i % 2 === 0 ? { states: [] } : { job: i + 1 }) as never, HANG_GUARD_MS));
        calls++;
      }
    }),
  );
  t.log(`${calls} calls in the flood`);
  t.true(calls > 0);
  const admin = schedulerClient(scheduler.address, { token: adminToken(scheduler.address) });
  t.teardown(() => admin.close());
  const { nodes } = await unary(admin, 'ListNodes', {});
  t.deepEqual(nodes.map((n) => `${n.name}:${n.state}`).sort(), ['a:alive', 'b:alive']);
  t.false(/node \w+ is dead/.test(scheduler.cli.stderr), 'no node declared dead');
});
