import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getCodec } from '../../src/codec/index.js';
import { CheckpointError, ImageCorruptError, JobStoppedError, NoImageError, RegionMismatchError, StateCaptureError } from '../../src/errors.js';
import { DEFAULT_BLOCK_SIZE, REGION_TYPES, type RegionTypeName } from '../../src/image/format.js';
import { ImageWriter } from '../../src/image/writer.js';
import { JobContext, type ImageCommitted } from '../../src/job/context.js';
import { CONTROL_CHECKPOINT, CONTROL_STOP, resolvePolicyOptions, type PolicyOptions } from '../../src/policy.js';
import { RestoredImage } from '../../src/restore.js';
import { LocalStore } from '../../src/store/local-store.js';
import { loadNative } from '../../src/native/binding.js';
import { withRunRemedy } from '../../scheduler/commands/run-remedies.js';
import { MessagePort, Worker } from 'node:worker_threads';

interface Harness {
  context: JobContext;
  store: LocalStore;
  warnings: string[];
  checkpoints: ImageCommitted[];
}

async function harness(
  dir: string,
  options: { restore?: boolean; policy?: Partial<PolicyOptions>; control?: Int32Array; store?: LocalStore; fullEvery?: number; stagingBudgetBytes?: number } = {},
): Promise<Harness> {
  const codec = await getCodec();
  const store = options.store ?? LocalStore.open({ dir });
  const writer = new ImageWriter({ codec, key: store.key, level: 1, blockSize: DEFAULT_BLOCK_SIZE, batchBlocks: 4, writerName: 'test' });
  const latest = options.restore ? store.latest('job', codec) : null;
  const warnings: string[] = [];
  const checkpoints: ImageCommitted[] = [];
  const context = new JobContext({
    job: 'job',
    attempt: 1,
    store,
    writer,
    restored: latest ? new RestoredImage(latest.reader) : null,
    policy: resolvePolicyOptions({ intervalMs: null, ...options.policy }),
    fullEvery: options.fullEvery ?? 8,
    stagingBudgetBytes: options.stagingBudgetBytes,
    control: options.control ?? null,
    events: {
      progress: () => undefined,
      log: () => undefined,
      warning: (m) => warnings.push(m),
      checkpoint: (info) => checkpoints.push(info),
    },
  });
  return { context, store, warnings, checkpoints };
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-context-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('regions of every typed-array kind hold their contents across a checkpoint and restore', async (t) => {
  const dir = tempDir(t);
  const first = await harness(dir);
  const expected = new Map<string, Uint8Array>();
  for (const [i, name] of (Object.keys(REGION_TYPES) as RegionTypeName[]).entries()) {
    const length = 1000 + i * 37;
    const array = first.context.region(name, REGION_TYPES[name], length);
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    for (let k = 0; k < bytes.length; k++) bytes[k] = (k * 31 + i * 7) & 0xff;
    expected.set(name, bytes.slice());
  }
  const info = await first.context.checkpoint({ force: true });
  t.truthy(info);
  await first.context.close();

  const second = await harness(dir, { restore: true });
  t.true(second.context.restored);
  t.is(second.context.image?.id, info!.id);
  for (const [i, name] of (Object.keys(REGION_TYPES) as RegionTypeName[]).entries()) {
    const array = second.context.region(name, REGION_TYPES[name], 1000 + i * 37);
    t.true(array instanceof REGION_TYPES[name]);
    t.deepEqual(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), expected.get(name), name);
  }
  await second.context.close();
});

test('a region larger than one block round-trips bit for bit', async (t) => {
  const dir = tempDir(t);
  const first = await harness(dir);
  const field = first.context.region('field', Float64Array, (3.5 * DEFAULT_BLOCK_SIZE) / 8 + 3);
  for (let i = 0; i < field.length; i++) field[i] = Math.sin(i / 100) * Math.cos(i / 77) + i * 1e-9;
  const copy = field.slice();
  const state = first.context.state('progress', { step: 12, history: [1, 2, 3], when: new Date(0) });
  state.step++;
  await first.context.checkpoint({ force: true });
  await first.context.close();

  const second = await harness(dir, { restore: true });
  t.deepEqual(second.context.region('field', Float64Array, copy.length), copy);
  t.deepEqual(second.context.state('progress', { step: 0, history: [], when: new Date() }), { step: 13, history: [1, 2, 3], when: new Date(0) });
  await second.context.close();
});

test('a restart that asks for a region of another type or length gets RegionMismatchError', async (t) => {
  const dir = tempDir(t);
  const first = await harness(dir);
  first.context.region('grid', Float64Array, 100);
  await first.context.checkpoint({ force: true });
  await first.context.close();

  const second = await harness(dir, { restore: true });
  const wrongLength = t.throws(() => second.context.region('grid', Float64Array, 101), { instanceOf: RegionMismatchError });
  t.is(wrongLength?.code, 'CR_REGION_MISMATCH');
  // The library says what differs and what the job must do; `run` adds its --fresh (run-remedies.test.ts).
  t.regex(wrongLength!.message, /Float64Array\(100\).*Float64Array\(101\).*register regions as they were/);
  t.regex(withRunRemedy(wrongLength!.code, wrongLength!.message), /Float64Array\(100\).*Float64Array\(101\).*--fresh/);
  const wrongType = t.throws(() => second.context.region('grid', Float32Array, 100), { instanceOf: RegionMismatchError });
  t.regex(wrongType!.message, /Float32Array\(100\)/);
  await second.context.close();
});

test('a state must be an object the job updates in place', async (t) => {
  const { context } = await harness(tempDir(t));
  const error = t.throws(() => context.state('count', 0), { instanceOf: TypeError });
  t.regex(error!.message, /state "count" must be an object.*\{ value: 0 \}/);
  context.state('ok', { value: 0 });
  t.throws(() => context.state('ok', {}), { instanceOf: TypeError, message: /already registered/ });
  await context.close();
});

test('a region with a bad type or length is refused with a message naming it', async (t) => {
  const { context } = await harness(tempDir(t));
  t.throws(() => context.region('a', Array as never, 10), { instanceOf: TypeError, message: /typed-array constructor/ });
  t.throws(() => context.region('b', Float64Array, -1), { instanceOf: RangeError, message: /region "b": length must be a positive/ });
  t.throws(() => context.region('c', Float64Array, 1.5), { instanceOf: RangeError });
  await context.close();
});

test('checkpoint resolves to null when nothing is due and to the image info when forced', async (t) => {
  const { context, checkpoints } = await harness(tempDir(t));
  context.state('s', { n: 1 });
  t.is(await context.checkpoint(), null);
  const info = await context.checkpoint({ force: true, durable: true });
  if (!info?.durable) return t.fail('a durable checkpoint resolves committed');
  t.is(info.sequence, 1);
  t.is(info.id, 'job-00000001');
  t.true(info.bytes > 0 && info.totalMs >= info.pauseMs && info.ratio > 0);
  t.true(fs.existsSync(info.file), 'the image is on disk when a durable checkpoint resolves');
  t.deepEqual(checkpoints.map((c) => c.id), ['job-00000001']);
  await context.close();
});

test('a checkpoint that is not durable resolves after capture; the image holds the values at the safe point', async (t) => {
  const dir = tempDir(t);
  const { context } = await harness(dir);
  const field = context.region('field', Float64Array, (3 * DEFAULT_BLOCK_SIZE) / 8);
  field.fill(1.5);
  const state = context.state('s', { step: 1 });
  const info = await context.checkpoint({ force: true });
  if (!info || info.durable) return t.fail('a staged checkpoint resolves before its commit');
  // The job goes on and overwrites everything while the image is being written.
  field.fill(-7);
  state.step = 2;
  const committed = await info.committed;
  t.is(committed.id, info.id);
  t.true(committed.pauseMs <= committed.totalMs);
  await context.close();
  const again = await harness(dir, { restore: true });
  t.true(again.context.region('field', Float64Array, (3 * DEFAULT_BLOCK_SIZE) / 8).every((v) => v === 1.5));
  t.deepEqual(again.context.state('s', { step: 0 }), { step: 1 });
  await again.context.close();
});

test('a typed array inside a state is captured at the safe point, not when the image is written', async (t) => {
  const dir = tempDir(t);
  const { context } = await harness(dir);
  const state = context.state('rng', { words: new Uint32Array([1, 2, 3, 4]), big: new Float64Array(300_000).fill(2) });
  const info = await context.checkpoint({ force: true });
  if (!info || info.durable) return t.fail('a staged checkpoint resolves before its commit');
  state.words.set([9, 9, 9, 9]);
  state.big.fill(-1);
  await info.committed;
  await context.close();
  const again = await harness(dir, { restore: true });
  const back = again.context.state('rng', { words: new Uint32Array(4), big: new Float64Array(0) });
  t.deepEqual([...back.words], [1, 2, 3, 4]);
  t.true(back.big.every((v) => v === 2));
  await again.context.close();
});

test('a background image is committed while the job computes between safe points that are not due', async (t) => {
  const { context } = await harness(tempDir(t));
  const field = context.region('field', Float64Array, (8 * DEFAULT_BLOCK_SIZE) / 8);
  field.fill(0.25);
  const info = await context.checkpoint({ force: true });
  if (!info || info.durable) return t.fail('a staged checkpoint resolves before its commit');
  let done = false;
  void info.committed.then(() => (done = true));
  // A job loop that only ever awaits safe points: without yielding to the event loop now and
  // then, the write (driven by callbacks on this thread) would not advance until the next due one.
  const scratch = new Float64Array(1 << 16);
  const deadline = Date.now() + 120_000; // a hang guard only
  let steps = 0;
  while (!done && Date.now() < deadline) {
    for (let i = 1; i < scratch.length; i++) scratch[i] = scratch[i - 1]! * 0.5 + 1;
    t.is(await context.checkpoint(), null);
    steps++;
  }
  t.true(done, `the image was still not committed after ${steps} safe points`);
  await context.close();
});

test('a background image becomes durable while the job\'s thread computes without ever yielding', async (t) => {
  const { context, store } = await harness(tempDir(t));
  const field = context.region('field', Float64Array, (4 * DEFAULT_BLOCK_SIZE) / 8);
  field.fill(0.5);
  const info = await context.checkpoint({ force: true });
  if (!info || info.durable) return t.fail('a staged checkpoint resolves before its commit');
  // No safe point and no event-loop turn on this thread: the writer thread commits on its own.
  const deadline = Date.now() + 120_000; // a hang guard only
  while (store.list('job').length === 0 && Date.now() < deadline) field[0] = (field[0]! * 7) % 3;
  t.deepEqual(store.list('job').map((e) => e.sequence), [info.sequence], 'committed with the job\'s thread busy all along');
  // Safe points pick the result up without the event loop (awaiting a resolved promise runs
  // microtasks only, so the port's listener cannot be what completes it).
  let done = false;
  void info.committed.then(() => (done = true));
  while (!done && Date.now() < deadline) t.is(await context.checkpoint(), null);
  t.true(done, 'a safe point completed the commit');
  await context.close();
});

test('beyond the staging budget the job waits for the image, which still holds the safe point', async (t) => {
  const dir = tempDir(t);
  const { context } = await harness(dir, { stagingBudgetBytes: 1024 });
  const field = context.region('field', Uint8Array, 2 * DEFAULT_BLOCK_SIZE);
  field.fill(3);
  const info = await context.checkpoint({ force: true });
  t.true(info?.durable, 'not staged: resolved once committed');
  field.fill(4);
  await context.close();
  const again = await harness(dir, { restore: true });
  t.true(again.context.region('field', Uint8Array, 2 * DEFAULT_BLOCK_SIZE).every((v) => v === 3));
  await again.context.close();
});

test('every N safe points takes a checkpoint on the Nth call', async (t) => {
  const { context } = await harness(tempDir(t), { policy: { everyCalls: 3 } });
  context.state('s', { n: 1 });
  const results = [];
  for (let i = 0; i < 7; i++) results.push((await context.checkpoint()) !== null);
  t.deepEqual(results, [false, false, true, false, false, true, false]);
  await context.close();
});

// Serial: concurrent tests that block the event loop would stretch the interval under test.
// An interval of seconds, so that a loaded machine's pauses between the calls stay well inside it.
test.serial('a checkpoint is due within a few safe points once the interval has passed', async (t) => {
  const { context } = await harness(tempDir(t), { policy: { intervalMs: 3_000 } });
  context.state('s', { n: 1 });
  t.is(await context.checkpoint(), null);
  await new Promise((resolve) => setTimeout(resolve, 3_050));
  // The clock is read about once per millisecond of safe points, so a call or two may pass first.
  let taken = 0;
  for (let i = 0; i < 4 && taken === 0; i++) if ((await context.checkpoint()) !== null) taken = i + 1;
  t.true(taken >= 1 && taken <= 2, `taken at call ${taken}`);
  t.is(await context.checkpoint(), null, 'and not again until the next interval');
  await context.close();
});

test('a runner request checkpoints at the next safe point; a stop request then stops the job', async (t) => {
  const control = new Int32Array(new SharedArrayBuffer(4));
  const { context } = await harness(tempDir(t), { control });
  context.state('s', { n: 1 });
  t.is(await context.checkpoint(), null);
  Atomics.store(control, 0, CONTROL_CHECKPOINT);
  t.is((await context.checkpoint())?.sequence, 1);
  t.is(Atomics.load(control, 0), 0, 'a served checkpoint request is cleared');
  Atomics.store(control, 0, CONTROL_STOP);
  const stopped = await t.throwsAsync(context.checkpoint(), { instanceOf: JobStoppedError });
  t.is(stopped?.code, 'CR_JOB_STOPPED');
  t.is(stopped?.imageId, 'job-00000002');
  await t.throwsAsync(context.checkpoint(), { instanceOf: JobStoppedError }, 'every later safe point stops again');
  await context.close();
});

test('a state\'s serialized bytes are staged as a region\'s are: within the budget the job goes on at once, beyond it the job waits for the image', async (t) => {
  for (const [budget, staged] of [[1024, false], [16 * 1024 * 1024, true]] as const) {
    const dir = tempDir(t);
    const { context } = await harness(dir, { stagingBudgetBytes: budget });
    // About 2 MB of v8 stream.
    const items = context.state('items', Array.from({ length: 50_000 }, (_, i) => ({ id: i, name: `item ${i}`, w: i / 3 })));
    const info = await context.checkpoint({ force: true });
    if (!info) return t.fail('no checkpoint');
    t.is(info.durable, !staged, `budget ${budget}: ${staged ? 'staged' : 'written while the job waits'}`);
    items[7]!.name = 'changed after the safe point';
    const committed = await info.committed;
    t.true(committed.rawBytes > 1024 * 1024, `the image holds the whole stream (${committed.rawBytes} bytes)`);
    await context.close();
    const again = await harness(dir, { restore: true });
    const back = again.context.state('items', [] as { id: number; name: string; w: number }[]);
    t.is(back.length, 50_000);
    t.deepEqual(back[7], { id: 7, name: 'item 7', w: 7 / 3 });
    t.deepEqual(back[49_999], { id: 49_999, name: 'item 49999', w: 49_999 / 3 });
    await again.context.close();
  }
});

test('images taken in a row each hold their own safe point\'s states, though every capture serializes them into the same reused memory', async (t) => {
  // Staged, durable, and beyond the staging budget (written while the job waits), with the states
  // changed between checkpoints and grown once past the memory the earlier captures sized: each
  // image must hold what its safe point saw, not what another state or capture wrote over it.
  for (const budget of [64 * 1024 * 1024, 1024]) {
    const dir = tempDir(t);
    const store = LocalStore.open({ dir, keepImages: 10 });
    const { context } = await harness(dir, { store, stagingBudgetBytes: budget });
    const items = context.state('items', Array.from({ length: 20_000 }, (_, i) => ({ id: i, tag: 'v0' })));
    const meta = context.state('meta', { version: 0 });
    const expected: { tag: string; version: number; length: number }[] = [];
    const pending: Promise<ImageCommitted>[] = [];
    for (let version = 1; version <= 4; version++) {
      if (version === 3) for (let i = 0; i < 60_000; i++) items.push({ id: items.length, tag: '' });
      for (const item of items) item.tag = `v${version}`;
      meta.version = version;
      expected.push({ tag: `v${version}`, version, length: items.length });
      const info = await context.checkpoint({ force: true, durable: version === 2 });
      if (!info) return t.fail('no checkpoint');
      pending.push(info.committed);
    }
    const committed = await Promise.all(pending);
    // The grown state's stream no longer fit the memory the first two captures had sized.
    t.true(committed[2]!.rawBytes > 2 * committed[1]!.rawBytes && committed[2]!.rawBytes > 1024 * 1024, `${committed[2]!.rawBytes} bytes`);
    await context.close();
    const codec = await getCodec();
    for (const [i, entry] of store.list('job').entries()) {
      const reader = store.openImage(entry.file, codec, { job: 'job', sequence: entry.sequence });
      const image = RestoredImage.load(reader);
      const back = image.state('items')!.value as { id: number; tag: string }[];
      const what = `image ${entry.sequence}, budget ${budget}`;
      t.is(back.length, expected[i]!.length, what);
      t.true(back.every((item, k) => item.id === k && item.tag === expected[i]!.tag), what);
      t.deepEqual(image.state('meta')!.value, { version: expected[i]!.version }, what);
      reader.close();
    }
  }
});

test('a checkpoint asked for from inside a capture (a state\'s getter) is refused, and the capture under way is not disturbed', async (t) => {
  const dir = tempDir(t);
  const { context } = await harness(dir);
  const inner: Promise<unknown>[] = [];
  const state = context.state('s', {
    list: Array.from({ length: 1000 }, (_, i) => ({ i })),
    get sneaky(): number {
      inner.push(context.checkpoint({ force: true }));
      return 7;
    },
  });
  const info = await context.checkpoint({ force: true, durable: true });
  t.truthy(info);
  t.is(inner.length, 1);
  const err = await t.throwsAsync(inner[0]!, { instanceOf: CheckpointError });
  t.regex(err!.message, /while a checkpoint was capturing the states/);
  await context.close();
  const again = await harness(dir, { restore: true });
  const back = again.context.state('s', {} as typeof state);
  t.is(back.sneaky, 7, 'the getter\'s value, as the serializer read it');
  t.is(back.list.length, 1000);
  t.deepEqual(back.list[999], { i: 999 });
  await again.context.close();
});

test('a checkpoint detaches no ArrayBuffer of the job\'s: nothing of it goes in a transfer list, so V8 keeps typed-array code free of detach checks', async (t) => {
  // Once any ArrayBuffer of an isolate is detached, V8 checks every typed-array access of
  // optimized code for detachment from then on: heat2d's sweeps took 24% longer after its first
  // checkpoint, when each state's v8 stream was transferred to the writer thread.
  const lists: unknown[][] = [];
  const spy = <T extends { postMessage: (...a: never[]) => void }>(proto: T): (() => void) => {
    const original = proto.postMessage;
    proto.postMessage = function (this: unknown, message: unknown, transfer?: unknown) {
      if (Array.isArray(transfer)) lists.push(transfer);
      else if (transfer !== undefined && typeof transfer === 'object' && Array.isArray((transfer as { transfer?: unknown }).transfer)) lists.push((transfer as { transfer: unknown[] }).transfer);
      return (original as (...a: unknown[]) => void).call(this, message, transfer);
    } as T['postMessage'];
    return () => {
      proto.postMessage = original;
    };
  };
  const restore = [spy(MessagePort.prototype), spy(Worker.prototype)];
  t.teardown(() => restore.forEach((r) => r()));
  const dir = tempDir(t);
  const { context } = await harness(dir);
  const states = Array.from({ length: 20 }, (_, i) => context.state(`s${i}`, { step: i, items: Array.from({ length: 100 * i }, (_, k) => ({ k })) }));
  const field = context.region('field', Float64Array, 1 << 16);
  field.fill(1.5);
  for (let round = 0; round < 2; round++) {
    const info = await context.checkpoint({ force: true });
    if (!info || info.durable) return t.fail('the checkpoint was not staged');
    await info.committed;
    states[0]!.step++;
  }
  await context.close();
  const buffers = lists.flat().filter((x) => x instanceof ArrayBuffer);
  t.deepEqual(buffers, [], 'no ArrayBuffer was transferred');
});

test('thousands of states cross to the writer thread through staging memory and each comes back as it was, beside a large one and typed arrays', async (t) => {
  const dir = tempDir(t);
  const { context } = await harness(dir);
  // Each state's v8 stream is staged, as the typed arrays inside states are.
  const count = 3000;
  for (let i = 0; i < count; i++) context.state(`s${i}`, { step: i, name: `state ${i}`, position: [i, i / 2, -i] });
  context.state('large', Array.from({ length: 5000 }, (_, i) => ({ id: i, label: `item ${i}` })));
  context.state('arrays', { weights: Float64Array.from({ length: 3000 }, (_, i) => i / 7), flags: new Uint8Array([1, 2, 3]) });
  const info = await context.checkpoint({ force: true });
  if (!info || info.durable) return t.fail('the checkpoint was not staged');
  await info.committed;
  await context.close();
  const again = await harness(dir, { restore: true });
  for (let i = 0; i < count; i++) {
    const back = again.context.state(`s${i}`, {});
    if (JSON.stringify(back) !== JSON.stringify({ step: i, name: `state ${i}`, position: [i, i / 2, -i] })) return t.fail(`state s${i} came back as ${JSON.stringify(back)}`);
  }
  const large = again.context.state('large', [] as { id: number; label: string }[]);
  t.is(large.length, 5000);
  t.deepEqual(large[4321], { id: 4321, label: 'item 4321' });
  const arrays = again.context.state('arrays', { weights: new Float64Array(0), flags: new Uint8Array(0) });
  t.is(arrays.weights[2999], 2999 / 7);
  t.deepEqual([...arrays.flags], [1, 2, 3]);
  await again.context.close();
});

test('an uncapturable state rejects the checkpoint with the path of the bad value', async (t) => {
  const { context } = await harness(tempDir(t));
  const progress = context.state('progress', { step: 1, cache: { fn: (): number => 1 } as Record<string, unknown> });
  const error = await t.throwsAsync(context.checkpoint({ force: true }), { instanceOf: StateCaptureError });
  t.is(error?.code, 'CR_STATE_UNCAPTURABLE');
  t.is(error?.message, 'state "progress".cache.fn is a function, which cannot be checkpointed');
  delete progress.cache.fn;
  t.truthy(await context.checkpoint({ force: true }));
  await context.close();
});

test('a checkpoint that cannot be written warns and lets the job go on, and a forced one rejects', async (t) => {
  const dir = tempDir(t);
  const { context, store, warnings } = await harness(dir, { policy: { everyCalls: 1 } });
  context.state('s', { n: 1 });
  t.truthy(await (await context.checkpoint())!.committed);
  // A directory where the next image's temp file goes: its commit fails with EISDIR.
  const blocker = path.join(store.jobDir('job'), `.00000002.crimg.tmp.${process.pid}`);
  fs.mkdirSync(blocker);
  const pending = await context.checkpoint();
  t.false(pending!.durable, 'the job went on before the write failed');
  await t.throwsAsync(pending!.committed, { instanceOf: CheckpointError });
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /checkpoint job-00000002 of job "job" failed: .*the previous image stays the latest and the job goes on/);
  const forced = await t.throwsAsync(context.checkpoint({ force: true, durable: true }), { instanceOf: CheckpointError });
  t.is(forced?.code, 'CR_CHECKPOINT_FAILED');
  t.deepEqual(store.list('job').map((e) => e.sequence), [1], 'nothing was committed, image 1 is untouched');
  fs.rmdirSync(blocker);
  const next = await context.checkpoint();
  t.is((await next!.committed).sequence, 2, 'the next checkpoint succeeds once the store is writable again');
  await context.close();
});

test('free releases a region and cr calls after the end are refused', async (t) => {
  const { context } = await harness(tempDir(t));
  const a = context.region('a', Uint8Array, 4096);
  context.free('a');
  if (loadNative().binding) t.is(a.byteLength, 0, 'native memory is unmapped and its array detached');
  t.throws(() => context.free('a'), { instanceOf: TypeError, message: /no region "a"/ });
  await context.close();
  t.throws(() => context.state('late', {}), { instanceOf: TypeError, message: /after the job ended/ });
});

test('an incremental image shares unchanged blocks and restores bit for bit through its chain', async (t) => {
  const dir = tempDir(t);
  const store = LocalStore.open({ dir, keepImages: 1 });
  const first = await harness(dir, { store, fullEvery: 3 });
  const blocks = 6;
  const field = first.context.region('field', Float64Array, (blocks * DEFAULT_BLOCK_SIZE) / 8);
  for (let i = 0; i < field.length; i++) field[i] = Math.sin(i / 1000);
  const progress = first.context.state('progress', { step: 0 });
  const infos: ImageCommitted[] = [];
  for (let step = 1; step <= 4; step++) {
    field[(step % blocks) * (DEFAULT_BLOCK_SIZE / 8) + 17] = step; // one block changes per step
    progress.step = step;
    infos.push(await (await first.context.checkpoint({ force: true }))!.committed);
  }
  t.deepEqual(infos.map((i) => i.incremental), [false, true, true, false], 'a full image every 3rd');
  t.is(infos[1]!.sharedBytes, (blocks - 1) * DEFAULT_BLOCK_SIZE, 'only the changed block is written again');
  t.true(infos[1]!.bytes < infos[0]!.bytes / 3);
  const expected = field.slice();
  field[5] = 42; // a change after the last image must not be restored
  await first.context.close();

  // keepImages 1 keeps the newest image and whatever it shares blocks with.
  t.deepEqual(store.list('job').map((e) => e.sequence), [4]);
  const second = await harness(dir, { store, restore: true, fullEvery: 3 });
  t.deepEqual(second.context.region('field', Float64Array, expected.length), expected);
  t.deepEqual(second.context.state('progress', { step: 0 }), { step: 4 });
  await second.context.close();
});

test('retention keeps the images an incremental image needs, and restore follows them', async (t) => {
  const dir = tempDir(t);
  const store = LocalStore.open({ dir, keepImages: 1 });
  const first = await harness(dir, { store, fullEvery: 8 });
  const field = first.context.region('field', Uint8Array, 3 * DEFAULT_BLOCK_SIZE);
  field.fill(7);
  for (let step = 0; step < 4; step++) {
    field[DEFAULT_BLOCK_SIZE * 2 + step] = step + 100;
    await first.context.checkpoint({ force: true });
  }
  const expected = field.slice();
  await first.context.close();
  // Image 4 shares blocks 0-1 with image 1 (the full one) and block 2 with nothing: 1 and 4 stay.
  t.deepEqual(store.list('job').map((e) => e.sequence), [1, 4]);
  const second = await harness(dir, { store, restore: true });
  t.deepEqual(second.context.region('field', Uint8Array, expected.length), expected);
  await second.context.close();
  // Without its base, the image is refused with a typed error naming the missing image.
  fs.rmSync(store.imageFile('job', 1));
  const reader = store.openImage(store.imageFile('job', 4), await getCodec(), { job: 'job', sequence: 4 });
  const error = t.throws(() => reader.verifyStored(), { instanceOf: ImageCorruptError });
  reader.close();
  t.is(error?.reason, 'base');
  t.regex(error!.message, /shares blocks with image job-00000001, which is missing/);
  const codec = await getCodec();
  t.throws(() => store.latest('job', codec), { instanceOf: NoImageError });
});

test('staging for a large region is warmed ahead of the first checkpoint, which is then staged instead of making the job wait', async (t) => {
  const region = 96 * 1024 * 1024; // above WARM_AT_ONCE_BYTES: its staging must be warmed first
  // Never reaching a safe point before the checkpoint: nothing was warmed, so the job waits.
  const cold = await harness(tempDir(t), { policy: { intervalMs: 600_000 } });
  cold.context.region('field', Uint8Array, region).fill(1);
  t.true((await cold.context.checkpoint({ force: true }))?.durable, 'cold staging: written while the job waited');
  await cold.context.close();
  // Safe points within the lead of the first checkpoint start the warming; the checkpoint by time
  // that follows is staged (were the warming not done when it falls due, it is put off until it
  // is: nothing here depends on how fast the machine warms).
  const warm = await harness(tempDir(t), { policy: { intervalMs: 3_000 } });
  warm.context.region('field', Uint8Array, region).fill(2);
  let info = await warm.context.checkpoint();
  const deadline = Date.now() + 180_000; // a hang guard only
  while (info === null && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    info = await warm.context.checkpoint();
  }
  t.false(info?.durable, 'warm staging: the job went on at once');
  await info?.committed;
  await warm.context.close();
});

test('a checkpoint that falls due while staging is still being warmed waits for it at the next safe points, then is staged', async (t) => {
  const { context } = await harness(tempDir(t), { policy: { intervalMs: 20 } });
  // 256 MiB: warming it takes longer than the 20 ms interval on any machine this runs on.
  context.region('field', Uint8Array, 256 * 1024 * 1024).fill(5);
  let info = null;
  let safePoints = 0;
  const deadline = Date.now() + 60_000;
  while (info === null && Date.now() < deadline) {
    info = await context.checkpoint();
    safePoints++;
  }
  t.truthy(info, 'taken once warm');
  t.false(info!.durable, `staged: the job did not wait for the image (${safePoints} safe points, ${JSON.stringify({ ...info, committed: undefined })})`);
  t.true(safePoints > 1);
  await info!.committed;
  await context.close();
});
