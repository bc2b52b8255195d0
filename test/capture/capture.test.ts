// captureSections: the sections of an image in the order docs/image-format.md gives, and a state
// captured, written and read back through an image is the state that was registered.
import test from 'ava';
import path from 'node:path';
import { captureSections, type RegisteredRegion } from '../../src/capture/capture.js';
import { StateCaptureError } from '../../src/errors.js';
import { REGION_TYPES, type RegionTypeName } from '../../src/image/format.js';
import { allocateRegion } from '../../src/region.js';
import { RestoredImage } from '../../src/restore.js';
import { ImageReader } from '../../src/image/reader.js';
import { KiB, codecs, header, newKey, tempRoot, writeImage } from '../image/helpers.js';

const tmp = tempRoot('capture');
test.after.always(() => tmp.cleanup());

function registered(type: RegionTypeName, length: number, fill: (i: number) => number | bigint): RegisteredRegion {
  const Ctor = REGION_TYPES[type];
  const memory = allocateRegion(type, Ctor, length);
  const array = memory.array as unknown as { [i: number]: number | bigint };
  for (let i = 0; i < length; i++) array[i] = fill(i);
  return { type, elementSize: Ctor.BYTES_PER_ELEMENT, memory, tracker: null };
}

test('Sections come in the format\'s order: each state\'s v8 section, then its buffers by index, then every region.', (t) => {
  const states = new Map<string, unknown>([
    ['progress', { step: 3, a: new Float64Array(4), b: new Int16Array(3), c: new Float64Array(2) }],
    ['config', { name: 'x' }],
  ]);
  const regions = new Map<string, RegisteredRegion>([
    ['grid', registered('Float32Array', 10, (i) => i)],
    ['ids', registered('BigUint64Array', 3, (i) => BigInt(i))],
  ]);
  const sections = captureSections(states, regions);
  t.deepEqual(
    sections.map((s) => [s.kind, s.name, s.kind === 'state' ? (s.role === 'buffer' ? `buffer ${s.index}` : 'v8') : s.type, s.kind === 'state' && s.role === 'v8' ? 1 : s.elementSize]),
    [
      ['state', 'progress', 'v8', 1],
      ['state', 'progress', 'buffer 0', 8],
      ['state', 'progress', 'buffer 1', 2],
      ['state', 'progress', 'buffer 2', 8],
      ['state', 'config', 'v8', 1],
      ['region', 'grid', 'Float32Array', 4],
      ['region', 'ids', 'BigUint64Array', 8],
    ],
  );
  // Regions are passed by reference, not copied.
  t.is(sections[5]!.data, regions.get('grid')!.memory.bytes);
  for (const r of regions.values()) r.memory.free();
});

test('An uncapturable state stops the capture with StateCaptureError.', (t) => {
  const err = t.throws<StateCaptureError>(
    () => captureSections(new Map<string, unknown>([['ok', 1], ['progress', { cache: { fn: () => 1 } }]]), new Map()),
    { instanceOf: StateCaptureError },
  );
  t.is(err.code, 'CR_STATE_UNCAPTURABLE');
  t.is(err.path, 'state "progress".cache.fn');
});

test('States and regions captured, written and restored come back as they were registered.', async (t) => {
  const { all } = await codecs();
  const key = newKey();
  const grid = new Float64Array(3000).map((_, i) => Math.sin(i));
  const progress = { step: 12, grid, window: grid.subarray(10, 20), tags: new Set(['a']), when: new Date(5) };
  for (const codec of all) {
    const states = new Map<string, unknown>([['progress', progress]]);
    const regions = new Map<string, RegisteredRegion>([['field', registered('Int32Array', 5000, (i) => i * 7 - 3)]]);
    const file = path.join(tmp.dir(), 'image.crimg');
    await writeImage(file, { codec, key, blockSize: 4 * KiB }, captureSections(states, regions), header('job', 1));
    const restored = new RestoredImage(ImageReader.open(file, { codec, key, expect: { job: 'job', sequence: 1 } }));
    try {
      const back = restored.state('progress')!.value as typeof progress;
      t.deepEqual(back, progress, codec.name);
      t.is(back.window.buffer, back.grid.buffer, 'views still share their buffer');
      t.is(restored.state('missing'), undefined);
      t.true(restored.hasRegion('field'));
      const memory = allocateRegion('field', Int32Array, 5000);
      restored.restoreRegion('field', 'Int32Array', 5000, memory);
      t.deepEqual(memory.array, regions.get('field')!.memory.array, codec.name);
      t.deepEqual(restored.unused(), []);
      memory.free();
    } finally {
      restored.close();
      for (const r of regions.values()) r.memory.free();
    }
  }
});
