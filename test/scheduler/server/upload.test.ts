// Parallel uploads on the scheduler's core (real database, real image store): an image sent as
// several parts, each a byte range on a stream of its own, is stored only when every part is in
// with its sha256 and the whole image verifies; any part that goes wrong fails the upload for
// all its parts, with a reason that says what happened, and leaves no temp file and no record.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import test, { type ExecutionContext } from 'ava';
import { SchedulerCore, type SchedulerCoreOptions } from '../../../scheduler/server/scheduler.js';
import type { UploadHeader, UploadResult } from '../../../scheduler/server/images.js';
import { FOOTER_LENGTH } from '../../../src/image/format.js';
import { tempDir } from '../../runner/helpers.js';
import { codecs, header, noise, region, splitImage, writeImage } from '../../image/helpers.js';
import { core, imageBytes, Sink, submit } from './helpers.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Part {
  offset: number;
  length: number;
  /** What the part's trailer says; default: the sha256 of its bytes. */
  sha256?: string;
  /** Bytes sent, default its range of the image. */
  bytes?: Buffer;
  /** Throws after this many bytes, as a dropped connection makes the stream's iterator do. */
  dropAfter?: number;
}

/** `sent` is called once the core has taken the part's last message and asked for more: the part has arrived. */
async function* stream(bytes: Buffer, part: Part, gate?: Promise<void>, sent?: () => void) {
  const data = part.bytes ?? bytes.subarray(part.offset, part.offset + part.length);
  await gate;
  for (let at = 0; at < data.length; at += 50_000) {
    if (part.dropAfter !== undefined && at >= part.dropAfter) throw new Error('the client cancelled the call');
    yield { chunk: data.subarray(at, at + 50_000) };
    await new Promise((r) => setImmediate(r));
  }
  yield { sha256: part.sha256 ?? sha(data) };
  sent?.();
}

/** A promise and the function that resolves it. */
function latch(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/**
 * Sends `parts` as one upload; each part's stream starts when its gate opens, and calls its `sent`
 * once the part has arrived. Resolves with every part's reply.
 */
function upload(
  c: SchedulerCore,
  job: number,
  sequence: number,
  bytes: Buffer,
  parts: Part[],
  options: { attempt?: number; id?: string; gates?: Promise<void>[]; sent?: (() => void)[]; tail?: Buffer } = {},
): Promise<UploadResult[]> {
  const base = { job, attempt: options.attempt ?? 1, sequence, bytes: bytes.length, node: 'n1', parts: parts.length, uploadId: options.id ?? 'upload-0001', ...(options.tail ? { tail: options.tail } : {}) };
  return Promise.all(parts.map((p, i) => c.upload({ ...base, part: i, offset: p.offset, length: p.length } satisfies UploadHeader, stream(bytes, p, options.gates?.[i], options.sent?.[i]))));
}

function thirds(size: number): Part[] {
  const a = Math.floor(size / 3);
  const b = Math.floor((2 * size) / 3);
  return [
    { offset: 0, length: a },
    { offset: a, length: b - a },
    { offset: b, length: size - b },
  ];
}

async function setup(t: ExecutionContext, idleMs = 30_000): Promise<{ c: SchedulerCore; id: number; bytes: Buffer }> {
  const c = await core(t, undefined, idleMs);
  const id = await submit(c);
  await c.connect({ node: 'n1', slots: 1, running: [], version: '' }, new Sink());
  return { c, id, bytes: await imageBytes(t, c.images.jobKey(id), `job-${id}`, 1) };
}

/** Nothing of the upload is left: no image, no record, no temp file in the job's directory. */
async function nothingLeft(t: ExecutionContext, c: SchedulerCore, id: number, what: string): Promise<void> {
  t.false(fs.existsSync(c.images.file(id, 1)), `${what}: an image was linked`);
  t.deepEqual(await c.listImages(id), [], `${what}: an image was recorded`);
  const dir = c.images.store.jobDir(`job-${id}`);
  const left = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  t.deepEqual(left, [], `${what}: files were left`);
}

function refusedAll(t: ExecutionContext, replies: UploadResult[], reason: RegExp, what: string, stale = false): void {
  for (const [i, r] of replies.entries()) {
    t.like(r, { accepted: false, stale }, `${what}: part ${i}`);
    t.regex((r as { reason: string }).reason, reason, `${what}: part ${i}`);
  }
}

test('An image sent as three parts that arrive in any order is stored whole, with the sha256 of the whole image, and logged once.', async (t) => {
  const { c, id, bytes } = await setup(t);
  // The last part first, then the first, then the middle one: each starts once the one before has arrived.
  const gates = [latch(), latch(), latch()];
  const arrived = [latch(), latch(), latch()];
  const replies = upload(c, id, 1, bytes, thirds(bytes.length), { gates: gates.map((g) => g.promise), sent: arrived.map((a) => a.open) });
  for (const i of [2, 0, 1]) {
    gates[i]!.open();
    await arrived[i]!.promise;
  }
  t.deepEqual(await replies, [{ accepted: true }, { accepted: true }, { accepted: true }]);
  t.deepEqual(fs.readFileSync(c.images.file(id, 1)), bytes);
  t.like((await c.listImages(id))[0], { sequence: 1, bytes: bytes.length, sha256: sha(bytes) });
  const stored = (await c.jobs.events(id, 0)).filter((e) => /image 1 stored/.test(e.text));
  t.is(stored.length, 1, 'one event for the image, not one per part');
  t.regex(stored[0]!.text, /in 3 parts/);
});

test('A part that never arrives fails the upload after the idle timeout, naming the missing part.', async (t) => {
  const { c, id, bytes } = await setup(t, 300);
  const [p0, , p2] = thirds(bytes.length);
  const base = { job: id, attempt: 1, sequence: 1, bytes: bytes.length, node: 'n1', parts: 3, uploadId: 'upload-0002' };
  const replies = await Promise.all([p0!, p2!].map((p, i) => c.upload({ ...base, part: i * 2, offset: p.offset, length: p.length }, stream(bytes, p))));
  refusedAll(t, replies, /part 1 of 3 never arrived/, 'missing part');
  await nothingLeft(t, c, id, 'missing part');
});

test('A part whose sha256 does not match fails every part of the upload.', async (t) => {
  const { c, id, bytes } = await setup(t);
  const parts = thirds(bytes.length);
  parts[1]!.sha256 = '00'.repeat(32);
  refusedAll(t, await upload(c, id, 1, bytes, parts), /part 1 of 3 .*sha256 mismatch/, 'wrong sha256');
  await nothingLeft(t, c, id, 'wrong sha256');
  // Bytes changed on the way (the trailer is the sha256 of the real range): the same.
  const damaged = thirds(bytes.length);
  damaged[2]!.sha256 = sha(bytes.subarray(damaged[2]!.offset));
  damaged[2]!.bytes = Buffer.from(bytes.subarray(damaged[2]!.offset));
  damaged[2]!.bytes[10]! ^= 1;
  refusedAll(t, await upload(c, id, 1, bytes, damaged, { id: 'upload-0003' }), /part 2 of 3 .*sha256 mismatch/, 'damaged bytes');
  await nothingLeft(t, c, id, 'damaged bytes');
  // And the image can then be sent again, whole.
  t.deepEqual(await upload(c, id, 1, bytes, thirds(bytes.length), { id: 'upload-0004' }), [{ accepted: true }, { accepted: true }, { accepted: true }]);
});

test("A stale attempt's parts are refused as stale; an attempt superseded between its parts leaves nothing.", async (t) => {
  const { c, id, bytes } = await setup(t);
  // Superseded after its first part arrived: the node is presumed dead half-way.
  const later = latch();
  const first = latch();
  const replies = upload(c, id, 1, bytes, thirds(bytes.length), { gates: [Promise.resolve(), later.promise, later.promise], sent: [first.open] });
  await first.promise;
  await c.jobs.requeueLost([{ id, attempt: 1 }], 'test');
  later.open();
  const late = await replies;
  t.true(late.every((r) => !r.accepted && r.stale), JSON.stringify(late));
  await nothingLeft(t, c, id, 'superseded');
  // The stale attempt tries again: refused at once.
  refusedAll(t, await upload(c, id, 1, bytes, thirds(bytes.length), { id: 'upload-0005' }), /not the current attempt/, 'stale', true);
  await nothingLeft(t, c, id, 'stale');
});

test('A part that overlaps another, passes the end of the image or sends more than its range fails the upload.', async (t) => {
  const { c, id, bytes } = await setup(t);
  const n = bytes.length;
  const cases: [string, Part[], RegExp][] = [
    ['overlap', [{ offset: 0, length: 1000 }, { offset: 999, length: n - 999 }], /part 1 \(bytes 999–\d+\) overlaps part 0 \(bytes 0–1000\)/],
    ['past the end', [{ offset: 0, length: 1000 }, { offset: 1000, length: n }], /part 1 \(bytes 1000–\d+\) passes the end of the \d+-byte image/],
    ['more than its range', [{ offset: 0, length: 1000, bytes: bytes.subarray(0, 2000) }, { offset: 1000, length: n - 1000 }], /part 0 of 2 \(bytes 0–1000\): more than its 1000 bytes/],
    ['a gap', [{ offset: 0, length: 1000 }, { offset: 2000, length: n - 2000 }], /the 2 parts hold \d+ bytes, \d+ announced/],
  ];
  for (const [what, parts, reason] of cases) {
    const replies = await upload(c, id, 1, bytes, parts, { id: `upload-${what.replace(/\W/g, '-')}` });
    // A part refused by its header alone fails the others through the upload it named.
    t.true(replies.every((r) => !r.accepted), what);
    t.true(replies.some((r) => reason.test((r as { reason: string }).reason)), `${what}: ${JSON.stringify(replies)}`);
    await nothingLeft(t, c, id, what);
  }
});

test('A part whose connection drops mid-part fails the whole upload and says so.', async (t) => {
  const { c, id, bytes } = await setup(t);
  const parts = thirds(bytes.length);
  parts[1]!.dropAfter = 50_000;
  refusedAll(t, await upload(c, id, 1, bytes, parts), /part 1 of 3 \(bytes \d+–\d+\): the connection dropped after 50000 of \d+ bytes/, 'dropped');
  await nothingLeft(t, c, id, 'dropped');
});

test('A new upload of the same image replaces one that is not complete; the old one ends refused.', async (t) => {
  const { c, id, bytes } = await setup(t);
  const never = latch();
  const arrived = latch();
  const first = upload(c, id, 1, bytes, thirds(bytes.length), { id: 'upload-first', gates: [Promise.resolve(), never.promise, never.promise], sent: [arrived.open] });
  await arrived.promise;
  const second = await upload(c, id, 1, bytes, thirds(bytes.length), { id: 'upload-second' });
  t.deepEqual(second, [{ accepted: true }, { accepted: true }, { accepted: true }]);
  never.open();
  t.true((await first).every((r) => !r.accepted));
  t.deepEqual(fs.readFileSync(c.images.file(id, 1)), bytes);
});

test('A part that arrives after its upload has failed gets that outcome at once, and starts nothing.', async (t) => {
  const { c, id, bytes } = await setup(t);
  const [p0, p1, p2] = thirds(bytes.length);
  p1!.sha256 = '00'.repeat(32);
  const base = { job: id, attempt: 1, sequence: 1, bytes: bytes.length, node: 'n1', parts: 3, uploadId: 'upload-late' };
  const early = await Promise.all([p0!, p1!].map((p, i) => c.upload({ ...base, part: i, offset: p.offset, length: p.length }, stream(bytes, p))));
  refusedAll(t, early, /part 1 of 3 .*sha256 mismatch/, 'the failed upload');
  const late = await c.upload({ ...base, part: 2, offset: p2!.offset, length: p2!.length }, stream(bytes, p2!));
  refusedAll(t, [late], /part 1 of 3 .*sha256 mismatch/, 'the late part');
  await nothingLeft(t, c, id, 'late part');
});

test('An upload that flushes behind its writes many times is stored byte for byte, with its sha256; a bad sha256 still leaves nothing.', async (t) => {
  // A flush every 4 KiB: fdatasyncs run while the chunks are still being written.
  const c = await SchedulerCore.open({ dataDir: tempDir(t, 'flush'), leaseTimeoutMs: 60_000, flushBehindBytes: 4 << 10 });
  t.teardown(() => c.close().catch(() => undefined));
  const id = await submit(c);
  await c.connect({ node: 'n1', slots: 1, running: [], version: '' }, new Sink());
  const bytes = await imageBytes(t, c.images.jobKey(id), `job-${id}`, 1);
  t.true(bytes.length > 8 * (4 << 10), 'the image spans several flushes');
  const header = { job: id, attempt: 1, sequence: 1, bytes: bytes.length, node: 'n1' };
  const refused = await c.upload(header, stream(bytes, { offset: 0, length: bytes.length, sha256: '0'.repeat(64) }));
  t.like(refused, { accepted: false, stale: false });
  t.regex((refused as { reason: string }).reason, /sha256 mismatch/);
  await nothingLeft(t, c, id, 'a wrong sha256');
  t.deepEqual(await c.upload(header, stream(bytes, { offset: 0, length: bytes.length })), { accepted: true });
  t.true(fs.readFileSync(c.images.file(id, 1)).equals(bytes));
  t.is((await c.listImages(id))[0]!.sha256, sha(fs.readFileSync(c.images.file(id, 1))));
});

test('Uploads written directly (O_DIRECT), their tail sent ahead or not, whole or in parts, are stored byte for byte; a block damaged on the way is refused.', async (t) => {
  // Every part takes the direct path where its offset allows (directMinBytes 0).
  const dataDir = tempDir(t, 'direct');
  const c = await SchedulerCore.open({ dataDir, leaseTimeoutMs: 60_000, directMinBytes: 0 });
  t.teardown(() => c.close().catch(() => undefined));
  const id = await submit(c);
  await c.connect({ node: 'n1', slots: 1, running: [], version: '' }, new Sink());
  const { main } = await codecs();
  // Many 64 KiB blocks of noise, so that blocks cross chunks and parts.
  const imageOf = async (sequence: number): Promise<Buffer> => {
    const file = `${tempDir(t, 'direct-image')}/image.crimg`;
    await writeImage(file, { codec: main, key: c.images.jobKey(id), blockSize: 64 << 10 }, [region('noise', 'Uint8Array', noise((1 << 20) + 4_321, sequence))], header(`job-${id}`, sequence));
    return fs.readFileSync(file);
  };
  const tailOf = (b: Buffer): Buffer => b.subarray(Number(b.readBigUInt64LE(b.length - FOOTER_LENGTH)));
  const cases: [string, (size: number) => Part[], boolean][] = [
    ['one stream, tail ahead', (size) => [{ offset: 0, length: size }], true],
    ['one stream, no tail (read back directly)', (size) => [{ offset: 0, length: size }], false],
    ['two aligned parts, tail ahead', (size) => [{ offset: 0, length: 512 << 10 }, { offset: 512 << 10, length: size - (512 << 10) }], true],
    ['three unaligned parts (direct and buffered), tail ahead', thirds, true],
  ];
  let sequence = 0;
  for (const [what, parts, withTail] of cases) {
    const bytes = await imageOf(++sequence);
    const tail = withTail ? tailOf(bytes) : undefined;
    // Damaged on the way: a byte of a block changes, the trailer's sha256 is that of the damaged bytes.
    const damaged = Buffer.from(bytes);
    damaged[splitImage(await writeTemp(t, bytes)).manifest.sections[0]!.blocks[7]![0] + 3]! ^= 0x40;
    const refused = await upload(c, id, sequence, damaged, parts(bytes.length), { id: `bad-${sequence}-upload`, tail });
    refusedAll(t, refused, /does not verify: .*block 7 is damaged/, `${what}, damaged`);
    t.false(fs.existsSync(c.images.file(id, sequence)), `${what}: the damaged image was not linked`);
    const replies = await upload(c, id, sequence, bytes, parts(bytes.length), { id: `good-${sequence}-upload`, tail });
    t.true(replies.every((r) => r.accepted), `${what}: ${JSON.stringify(replies)}`);
    t.true(fs.readFileSync(c.images.file(id, sequence)).equals(bytes), `${what}: the stored image is the one sent`);
    t.is((await c.listImages(id)).find((r) => r.sequence === sequence)!.sha256, sha(bytes), what);
  }
  t.deepEqual(fs.readdirSync(c.images.store.jobDir(`job-${id}`)).filter((f) => f.startsWith('.')), [], 'no temp file is left');
});

async function writeTemp(t: ExecutionContext, bytes: Buffer): Promise<string> {
  const file = `${tempDir(t, 'copy')}/image.crimg`;
  fs.writeFileSync(file, bytes);
  return file;
}

/**
 * While installed, every write through a handle that `fsp.open` opens with flags `which` accepts
 * fails with ENOSPC (a full disk), after `after` writes through such handles succeeded.
 */
async function failWrites(which: (flags: string | number | undefined) => boolean, after: number): Promise<() => void> {
  const probe = await fsp.open(process.execPath, 'r');
  const proto = Object.getPrototypeOf(probe) as { write: (this: FileHandle, ...a: unknown[]) => Promise<unknown> };
  await probe.close();
  const open = fsp.open;
  const write = proto.write;
  const targets = new WeakSet<FileHandle>();
  let writes = 0;
  fsp.open = (async (file: fs.PathLike, flags?: string | number, mode?: number) => {
    const handle = await open(file, flags, mode);
    if (which(flags)) targets.add(handle);
    return handle;
  }) as typeof fsp.open;
  proto.write = function (this: FileHandle, ...args: unknown[]): Promise<unknown> {
    if (targets.has(this) && ++writes > after) return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    return write.apply(this, args);
  };
  return () => {
    fsp.open = open;
    proto.write = write;
  };
}

test.serial('A full disk, under direct writes or the page cache, fails the upload with "writing it to disk failed", keeps nothing, and the next upload is stored.', async (t) => {
  const c = await SchedulerCore.open({ dataDir: tempDir(t, 'full'), leaseTimeoutMs: 60_000, directMinBytes: 64 << 10 });
  t.teardown(() => c.close().catch(() => undefined));
  const id = await submit(c);
  await c.connect({ node: 'n1', slots: 1, running: [], version: '' }, new Sink());
  const { main } = await codecs();
  const file = `${tempDir(t, 'full-image')}/image.crimg`;
  await writeImage(file, { codec: main, key: c.images.jobKey(id), blockSize: 64 << 10 }, [region('noise', 'Uint8Array', noise(3 << 20, 5))], header(`job-${id}`, 1));
  const bytes = fs.readFileSync(file);
  const isDirect = (flags: string | number | undefined): boolean => typeof flags === 'number' && (flags & fs.constants.O_DIRECT) !== 0;
  // The direct path (one stream of 3 MiB), then the page cache (a part of 40 KiB, below directMinBytes).
  const cases: [string, (flags: string | number | undefined) => boolean, Part[]][] = [
    ['direct writes', isDirect, [{ offset: 0, length: bytes.length }]],
    ['the page cache', (flags) => flags === 'wx', [{ offset: 0, length: 40_000 }, { offset: 40_000, length: bytes.length - 40_000 }]],
  ];
  for (const [i, [what, which, parts]] of cases.entries()) {
    const uninstall = await failWrites(which, 0);
    let replies: UploadResult[];
    try {
      replies = await upload(c, id, 1, bytes, parts, { id: `full-upload-${i}` });
    } finally {
      uninstall();
    }
    refusedAll(t, replies, /image 1 of job \d+: writing it to disk failed: ENOSPC/, what);
    await nothingLeft(t, c, id, what);
  }
  // ENOSPC on its own disk degrades the scheduler; the next tick finds room again (storage.ts).
  t.truthy(c.storage.degraded);
  await c.tick();
  t.is(c.storage.degraded, null);
  t.true((await upload(c, id, 1, bytes, [{ offset: 0, length: bytes.length }], { id: 'after-full-1' })).every((r) => r.accepted));
  t.true(fs.readFileSync(c.images.file(id, 1)).equals(bytes));
});

test('A part whose sender goes quiet ends with the upload when another part fails it, without waiting for its sender.', async (t) => {
  // An idle timeout of an hour: were the quiet part waiting for its sender, the replies would
  // never come and ava's timeout would fail the test; no clock is read.
  const { c, id, bytes } = await setup(t, 3_600_000);
  const parts = thirds(bytes.length);
  parts[2]!.sha256 = '00'.repeat(32);
  const base = { job: id, attempt: 1, sequence: 1, bytes: bytes.length, node: 'n1', parts: 3, uploadId: 'upload-quiet' };
  // Part 0 sends half its bytes, then nothing more (its connection stays open).
  async function* quiet() {
    yield { chunk: bytes.subarray(0, Math.floor(parts[0]!.length / 2)) };
    await new Promise(() => undefined);
  }
  const replies = await Promise.all([
    c.upload({ ...base, part: 0, offset: parts[0]!.offset, length: parts[0]!.length }, quiet()),
    ...[1, 2].map((i) => c.upload({ ...base, part: i, offset: parts[i]!.offset, length: parts[i]!.length }, stream(bytes, parts[i]!))),
  ]);
  refusedAll(t, replies, /part 2 of 3 .*sha256 mismatch/, 'quiet part');
  await nothingLeft(t, c, id, 'quiet part');
});

async function limited(t: ExecutionContext, options: Partial<SchedulerCoreOptions>): Promise<{ c: SchedulerCore; id: number }> {
  const c = await SchedulerCore.open({ dataDir: tempDir(t, 'limits'), leaseTimeoutMs: 60_000, ...options });
  t.teardown(() => c.close().catch(() => undefined));
  const id = await submit(c);
  await c.connect({ node: 'n1', slots: 1, running: [], version: '' }, new Sink());
  return { c, id };
}

/** A stream that must never be read: the refusal comes before a byte is taken. */
function untouched(t: ExecutionContext): AsyncIterable<{ chunk?: Buffer; sha256?: string }> {
  return {
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        t.fail('the upload read a byte');
        return { done: true as const, value: undefined };
      },
    }),
  };
}

test('An image declaring more than --max-image-bytes (even 2^53 − 1) is refused RESOURCE_EXHAUSTED before a byte is read or a file made.', async (t) => {
  const { c, id } = await limited(t, { maxImageBytes: 1 << 20 });
  for (const bytes of [(1 << 20) + 1, Number.MAX_SAFE_INTEGER]) {
    const r = await c.upload({ job: id, attempt: 1, sequence: 1, bytes, node: 'n1' }, untouched(t));
    t.like(r, { accepted: false, status: 'RESOURCE_EXHAUSTED' });
    t.regex((r as { reason: string }).reason, /--max-image-bytes/);
    await nothingLeft(t, c, id, `${bytes} bytes`);
  }
});

test("An image that would take a job past its image quota is refused RESOURCE_EXHAUSTED; the job's images stay as they were.", async (t) => {
  // The quota fits one image and not two, whatever size the codec makes them (the key does not change it).
  const probe = await imageBytes(t, Buffer.alloc(32, 1), 'job-1', 1);
  const quota = await limited(t, { maxJobImageBytes: Math.floor(probe.length * 1.5) });
  const bytes = await imageBytes(t, quota.c.images.jobKey(quota.id), `job-${quota.id}`, 1);
  t.true((await upload(quota.c, quota.id, 1, bytes, [{ offset: 0, length: bytes.length }]))[0]!.accepted);
  const second = await imageBytes(t, quota.c.images.jobKey(quota.id), `job-${quota.id}`, 2);
  const r = await quota.c.upload({ job: quota.id, attempt: 1, sequence: 2, bytes: second.length, node: 'n1' }, untouched(t));
  t.like(r, { accepted: false, status: 'RESOURCE_EXHAUSTED' });
  t.regex((r as { reason: string }).reason, /quota of \d+ bytes .*--max-job-image-bytes/);
  t.deepEqual((await quota.c.listImages(quota.id)).map((i) => i.sequence), [1]);
  t.false(fs.existsSync(quota.c.images.file(quota.id, 2)));
});

test('A stream that sends its header and then nothing is cut for its rate, DEADLINE_EXCEEDED, its temp file removed.', async (t) => {
  // The window is short so that the cut comes soon; the test waits for the cut itself, not a time.
  const { c, id } = await limited(t, { minUploadBytesPerS: 1 << 20, uploadRateWindowMs: 50 });
  let release!: () => void;
  const never = new Promise<void>((resolve) => (release = resolve));
  t.teardown(() => release());
  const bytes = await imageBytes(t, c.images.jobKey(id), `job-${id}`, 1);
  async function* silent() {
    await never;
    yield { chunk: Buffer.alloc(1) };
  }
  const r = await c.upload({ job: id, attempt: 1, sequence: 1, bytes: bytes.length, node: 'n1' }, silent());
  t.like(r, { accepted: false, status: 'DEADLINE_EXCEEDED' });
  t.regex((r as { reason: string }).reason, /below the scheduler's minimum upload rate .*cut/);
  await nothingLeft(t, c, id, 'the cut upload');
  t.is(c.images.committing.size, 0);
});
