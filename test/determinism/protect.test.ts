import test from 'ava';
import { RegionMismatchError } from '../../src/errors.js';
import type { WasmMemory } from '../../src/determinism/protect.js';
import { attempt, tempDir } from '../job/harness.js';

const PAGE = 65536;
// The project compiles without the DOM typings that declare WebAssembly.
const { WebAssembly } = globalThis as unknown as {
  WebAssembly: { Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory };
};

test('an ArrayBuffer, a typed array over part of a buffer and a DataView are restored in place', async (t) => {
  const dir = tempDir(t, 'protect');
  const first = await attempt(dir, false);
  const buffer = new ArrayBuffer(5000);
  new Uint8Array(buffer).forEach((_, i, a) => (a[i] = i % 251));
  const backing = new ArrayBuffer(8 * 1000);
  const field = new Float64Array(backing, 8 * 100, 500).map((_, i) => Math.sqrt(i));
  const view = new DataView(new ArrayBuffer(64));
  view.setFloat64(8, Math.PI);
  t.is(first.context.protect('buffer', buffer), buffer);
  first.context.protect('field', field);
  first.context.protect('view', view);
  const expected = { buffer: new Uint8Array(buffer).slice(), field: field.slice() };
  const info = await first.context.checkpoint({ force: true });
  // Changed after the safe point: the image holds the values at the safe point.
  field[0] = -1;
  new Uint8Array(buffer)[0] = 99;
  await info!.committed;
  await first.context.close();

  const second = await attempt(dir, true);
  const buffer2 = new ArrayBuffer(5000);
  const backing2 = new ArrayBuffer(8 * 1000);
  const field2 = new Float64Array(backing2, 8 * 100, 500);
  const view2 = new DataView(new ArrayBuffer(64));
  second.context.protect('buffer', buffer2);
  second.context.protect('field', field2);
  second.context.protect('view', view2);
  t.deepEqual(new Uint8Array(buffer2), expected.buffer);
  t.deepEqual(field2, expected.field);
  t.true(new Float64Array(backing2, 0, 100).every((x) => x === 0), 'bytes outside the view are not touched');
  t.is(view2.getFloat64(8), Math.PI);
  t.deepEqual(second.warnings, []);
  await second.context.close();
});

test('a WebAssembly memory is grown to its checkpointed size and restored in place', async (t) => {
  const dir = tempDir(t, 'protect');
  const first = await attempt(dir, false);
  const memory = new WebAssembly.Memory({ initial: 1 });
  first.context.protect('heap', memory);
  memory.grow(2); // after registering: capture takes the memory's size at each safe point
  const bytes = new Uint8Array(memory.buffer);
  for (let i = 0; i < bytes.length; i += 997) bytes[i] = (i >> 3) & 0xff;
  const expected = new Uint8Array(memory.buffer).slice();
  await first.context.checkpoint({ force: true, durable: true });
  await first.context.close();

  const second = await attempt(dir, true);
  const fresh = new WebAssembly.Memory({ initial: 1 });
  t.is(second.context.protect('heap', fresh), fresh);
  t.is(fresh.buffer.byteLength, 3 * PAGE);
  t.deepEqual(new Uint8Array(fresh.buffer), expected);
  await second.context.close();
});

test('a restart that protects memory of another size or type gets RegionMismatchError', async (t) => {
  const dir = tempDir(t, 'protect');
  const first = await attempt(dir, false);
  first.context.protect('a', new Float64Array(10));
  first.context.protect('heap', new WebAssembly.Memory({ initial: 1 }));
  first.context.protect('capped', new WebAssembly.Memory({ initial: 3 }));
  await first.context.checkpoint({ force: true, durable: true });
  await first.context.close();

  const second = await attempt(dir, true);
  const length = t.throws(() => second.context.protect('a', new Float64Array(11)), { instanceOf: RegionMismatchError });
  t.is(length?.code, 'CR_REGION_MISMATCH');
  t.regex(length!.message, /protected memory "a" was checkpointed as Float64Array of 80 bytes but the job now protects Float64Array of 88 bytes/);
  t.throws(() => second.context.protect('a', new Int32Array(20)), { instanceOf: RegionMismatchError, message: /as Float64Array .* now protects Int32Array/ });
  t.throws(() => second.context.protect('heap', new WebAssembly.Memory({ initial: 2 })), { instanceOf: RegionMismatchError, message: /of 65536 bytes .* of 131072 bytes/ });
  const cannotGrow = t.throws(() => second.context.protect('capped', new WebAssembly.Memory({ initial: 1, maximum: 2 })), { instanceOf: RegionMismatchError });
  t.regex(cannotGrow!.message, /cannot grow from 65536 to that/);
  await second.context.close();
});

test('protecting what is not memory, shared memory, or a name or memory twice is refused with TypeError', async (t) => {
  const { context } = await attempt(tempDir(t, 'protect'), false);
  t.throws(() => context.protect('x', {} as ArrayBuffer), { instanceOf: TypeError, message: /memory must be an ArrayBuffer, a typed array, a DataView or a WebAssembly\.Memory/ });
  t.throws(() => context.protect('x', new Int32Array(new SharedArrayBuffer(16))), { instanceOf: TypeError, message: /SharedArrayBuffer cannot be protected/ });
  t.throws(() => context.protect('x', new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true })), { instanceOf: TypeError, message: /shared WebAssembly\.Memory/ });
  t.throws(() => context.protect('', new ArrayBuffer(1)), { instanceOf: TypeError, message: /protect name must be a non-empty string/ });
  const buffer = new ArrayBuffer(8);
  context.protect('x', buffer);
  t.throws(() => context.protect('x', new ArrayBuffer(8)), { instanceOf: TypeError, message: /"x" is already protected/ });
  t.throws(() => context.protect('y', buffer), { instanceOf: TypeError, message: /already protected under another name/ });
  t.throws(() => context.region('cr:protect:x', Uint8Array, 8), { instanceOf: TypeError, message: /reserved for cr/ });
  await context.close();
  t.throws(() => context.protect('z', new ArrayBuffer(8)), { instanceOf: TypeError, message: /after the job ended/ });
});
