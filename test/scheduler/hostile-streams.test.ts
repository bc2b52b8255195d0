// Hostile callers of the streaming RPCs (Connect, DownloadImage, UploadImage): random ids,
// huge and path-like names, and upload streams whose parts come in any order with any content
// end in a proper gRPC status (never INTERNAL or UNKNOWN), the scheduler stays up, no image is
// recorded, and nothing is written outside the data directory. The unary RPCs are fuzzed in
// hostile.test.ts.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import * as grpc from '@grpc/grpc-js';
import { schedulerClient, unary } from '../../scheduler/proto/load.js';
import type { UploadImageMessage } from '../../scheduler/proto/types.js';
import { tempDir, testSeed } from '../runner/helpers.js';
import { adminToken, createToken, startScheduler } from './helpers.js';
import { HANG_GUARD_MS } from '../hang-guard.js';

const PROPER = new Set([
  grpc.status.OK,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.PERMISSION_DENIED,
  grpc.status.UNAUTHENTICATED,
  grpc.status.CANCELLED, // Connect streams that were accepted are cancelled by the test itself
  grpc.status.RESOURCE_EXHAUSTED, // an upload, with its attempt's secret, declaring more than --max-image-bytes
]);

const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('', '..', '../../../etc/passwd', '/tmp/x', 'job-1/../../..', '\u0000', 'node\nname', 'fuzz'),
  fc.string({ minLength: 1, maxLength: 4 }).map((s) => s.repeat(50_000)),
);
const id = fc.oneof(fc.constantFrom(0, 1, 2, 0xffffffff), fc.nat({ max: 0xffffffff }));
const size = fc.oneof(fc.nat({ max: 1 << 20 }), fc.constantFrom(0, Number.MAX_SAFE_INTEGER));
/** The secret of attempt 1 of job 1, from its assignment to node "fuzz": uploads and downloads carry it or a wrong one. */
let heldSecret = '';
const secret = fc.oneof({ arbitrary: fc.constant(null).map(() => heldSecret), weight: 3 }, { arbitrary: nasty, weight: 1 });
const part: fc.Arbitrary<UploadImageMessage> = fc.oneof(
  fc.record({
    header: fc.record(
      {
        job: fc.oneof(fc.constant(1), id),
        attempt: fc.oneof(fc.constant(1), id),
        sequence: id,
        bytes: size,
        node: fc.oneof(fc.constant('fuzz'), nasty),
        secret,
        // A parallel upload's part: counts, ranges and ids in and out of bounds.
        parts: fc.oneof(fc.constantFrom(0, 1, 2, 3, 16, 17), id),
        part: fc.oneof(fc.constantFrom(0, 1, 2), id),
        offset: size,
        length: size,
        uploadId: fc.oneof(fc.constantFrom('fuzz-upload-1', 'fuzz-upload-2'), nasty),
      },
      { requiredKeys: ['job', 'attempt', 'sequence', 'bytes', 'node', 'secret'] },
    ),
  }),
  fc.record({ chunk: fc.uint8Array({ maxLength: 4096 }).map((a) => Buffer.from(a)) }),
  fc.record({ trailer: fc.record({ sha256: nasty }) }),
);

type Stream = { on(event: 'data' | 'error' | 'end' | 'status', listener: (value: never) => void): unknown; cancel(): void };

/** The status a server-streaming call ends with; an accepted stream is cancelled after its first message. */
function streamStatus(call: Stream): Promise<{ code: number; details: string }> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => call.cancel(), 2000);
    call.on('data', () => call.cancel());
    call.on('error', () => undefined);
    call.on('status', (status: grpc.StatusObject) => {
      clearTimeout(timer);
      resolve({ code: status.code, details: status.details });
    });
  });
}

test('Connect, DownloadImage and UploadImage answer random, huge and out-of-order requests with a proper status; nothing is recorded or written outside the data directory.', async (t) => {
  const parent = tempDir(t, 'fuzz-streams');
  const dataDir = path.join(parent, 'data');
  // Parallel uploads whose other parts never come fail after the idle timeout: short here.
  const scheduler = await startScheduler(t, { dataDir, extra: ['--upload-idle-timeout', '0.3'] });
  // Two agent tokens: "agent" is node fuzz, which runs the job and keeps its session (its
  // attempt's secret stays the one in heldSecret); "agent2" is node fuzz2, whose Connects are fuzzed.
  const tokens = {
    admin: adminToken(scheduler.address),
    agent: await createToken(scheduler.address, 'agent'),
    agent2: await createToken(scheduler.address, 'agent'),
    user: await createToken(scheduler.address, 'user'),
  };
  const clients = Object.fromEntries(Object.entries(tokens).map(([role, token]) => [role, schedulerClient(scheduler.address, { token })]));
  t.teardown(() => Object.values(clients).forEach((c) => c.close()));
  const admin = clients.admin!;
  // A real job, so that ids 1 and 2 reach the checks behind "no such job".
  await unary(admin, 'Submit', { name: 'victim', code: Buffer.from('export default async () => 1'), argsJson: '{}', retries: 0, priority: 0, intervalMs: 60_000, fullEvery: 8 });

  // Node "fuzz" (the agent token's node) is connected and runs the job, so that calls in its name
  // get past the authorization checks into the handlers' own (ids, sizes, order, fencing).
  const held = clients.agent!.Connect({ node: 'fuzz', slots: 1, running: [], version: 'fuzz' });
  held.on('data', (c: { command?: string; assign?: { secret: string } }) => {
    if (c.command === 'assign') heldSecret = c.assign!.secret;
  });
  held.on('error', () => undefined);
  t.teardown(() => held.cancel());
  const deadline = Date.now() + HANG_GUARD_MS; // a hang guard only: a fixed number of polls was too short under load
  while ((await unary(admin, 'GetJob', { job: 1 })).state !== 'running' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

  const second = clients.agent2!.Connect({ node: 'fuzz2', slots: 1, running: [], version: 'fuzz' });
  second.on('error', () => undefined);
  await new Promise((resolve) => second.once('data', resolve));
  second.cancel();

  const role = fc.constantFrom('admin', 'agent', 'user');
  const connectRole = fc.constantFrom('admin', 'agent2', 'user');
  const node = fc.oneof(fc.constant('fuzz2'), fc.constant('fuzz'), nasty);
  const job = fc.oneof({ arbitrary: fc.constant(1), weight: 3 }, { arbitrary: id, weight: 1 });
  const attempt = fc.oneof({ arbitrary: fc.constant(1), weight: 3 }, { arbitrary: id, weight: 1 });
  const call = fc.oneof(
    fc.record({ rpc: fc.constant('Connect' as const), role: connectRole, request: fc.record({ node, slots: id, running: fc.array(fc.record({ job: id, attempt: id }), { maxLength: 3 }), version: nasty }) }),
    fc.record({ rpc: fc.constant('DownloadImage' as const), role, request: fc.record({ job, sequence: id, offset: size, length: size, attempt, secret }, { requiredKeys: ['job', 'sequence', 'attempt', 'secret'] }) }),
    fc.record({ rpc: fc.constant('UploadImage' as const), role, parts: fc.array(part, { maxLength: 6 }) }),
  );
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(call, async (c) => {
      const client = clients[c.role]!;
      let status: { code: number; details: string };
      if (c.rpc === 'Connect') {
        status = await streamStatus(client.Connect(c.request) as unknown as Stream);
      } else if (c.rpc === 'DownloadImage') {
        status = await streamStatus(client.DownloadImage(c.request) as unknown as Stream);
      } else {
        status = await new Promise((resolve) => {
          const upload = client.UploadImage((err) => resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }));
          upload.on('error', () => undefined);
          for (const p of c.parts) upload.write(p);
          upload.end();
        });
      }
      const key = `${c.rpc} ${grpc.status[status.code]}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      if (!PROPER.has(status.code)) throw new Error(`${c.rpc} as ${c.role} answered ${grpc.status[status.code]}: ${status.details}`);
      if (status.details.length > 2000) throw new Error(`${c.rpc}: a ${status.details.length}-character message echoes the input`);
    }),
    { numRuns: 200, seed: testSeed() },
  );
  t.log([...seen].sort().map(([k, n]) => `${k}: ${n}`).join(', '));
  // The calls must get past authentication into the handlers' own checks, not only be refused.
  for (const rpc of ['Connect', 'DownloadImage', 'UploadImage']) {
    t.true([...seen.keys()].some((k) => k.startsWith(`${rpc} `) && !/PERMISSION_DENIED|UNAUTHENTICATED/.test(k)), `${rpc} never reached its handler's checks`);
  }
  t.is(scheduler.cli.child.exitCode, null, 'the scheduler is still running');
  t.deepEqual(fs.readdirSync(parent), ['data'], 'nothing outside the data directory');
  const { images } = await unary(admin, 'ListImages', { job: 1 });
  t.deepEqual(images, [], 'no upload was recorded as an image');
});
