// The job thread's side of the image writer thread: how a staged image crosses to it.
import test, { type ExecutionContext } from 'ava';
import { Staging } from '../../src/capture/staging.js';
import { ImageReader } from '../../src/image/reader.js';
import { planImage } from '../../src/image/plan.js';
import type { SectionInput } from '../../src/image/sections.js';
import { BackgroundWriter } from '../../src/pipeline/background-writer.js';
import { LocalStore } from '../../src/store/local-store.js';
import { codecs, equalBytes, header, KiB, makeWriter, MiB, noise, tempRoot } from '../image/helpers.js';

const tmp = tempRoot('background-writer');
test.after.always(() => tmp.cleanup());

/** A store, an image writer of 4 KiB blocks and the background writer over them, closed after the test. */
async function backgroundWriter(t: ExecutionContext) {
  const { main } = await codecs();
  const store = LocalStore.open({ dir: tmp.dir('store') });
  const writer = makeWriter({ codec: main, key: store.key, blockSize: 4 * KiB });
  const background = new BackgroundWriter(store, writer);
  t.teardown(() => background.close());
  return { main, store, writer, background };
}

test('Staged v8 streams (1300, two views of one buffer, a view of part of one) cross to the writer thread as views of staging memory and are written as they were; the job\'s buffers stay attached.', async (t) => {
  const { main, store, writer, background } = await backgroundWriter(t);
  const sections: SectionInput[] = [];
  for (let i = 0; i < 1300; i++) sections.push({ kind: 'state', role: 'v8', name: `s${i}`, data: noise(30 + (i % 40), i + 1) });
  const first = sections[3]!.data;
  const partOf = sections[700]!.data;
  sections.push({ kind: 'state', role: 'v8', name: 'again', data: new Uint8Array(first.buffer) });
  sections.push({ kind: 'state', role: 'v8', name: 'part', data: partOf.subarray(5, 20) });
  const expected = sections.map((s) => s.data.slice());
  const plan = planImage(sections, { previous: null, blockSize: writer.blockSize });
  const staging = new Staging(16 * MiB).stage(sections.map((s) => ({ data: s.data, blocks: null })), writer.blockSize);
  if (staging === null) return t.fail('the sections did not fit the staging budget');
  staging.copy();
  sections.forEach((s, i) => (s.staged = staging.sections[i]));
  const image = await background.write({ header: header('job', 1), sections, plan });
  t.is(image.manifest.sections.length, sections.length);
  t.true(
    sections.every((s, i) => s.data.byteLength === expected[i]!.byteLength),
    'no section\'s buffer was detached (transferred) on the way',
  );
  const reader = ImageReader.open(image.file, { codec: main, key: store.key });
  t.teardown(() => reader.close());
  const back = reader.readSections(reader.manifest.sections);
  const wrong = back.flatMap((b, i) => (equalBytes(b, expected[i]!) ? [] : [sections[i]!.name]));
  t.deepEqual(wrong, [], 'every section reads back as it was captured');
});

test('A section that is not staged is refused before anything crosses: the writer thread reads staging memory only.', async (t) => {
  const { writer, background } = await backgroundWriter(t);
  const sections: SectionInput[] = [{ kind: 'state', role: 'v8', name: 'loose', data: noise(100, 1) }];
  const plan = planImage(sections, { previous: null, blockSize: writer.blockSize });
  t.throws(() => background.write({ header: header('job', 1), sections, plan }), { message: /state "loose" of a staged image is not staged/ });
  t.is(sections[0]!.data.byteLength, 100);
});

test('A staged image is handed to the writer thread before its blocks are copied in, and is written with the bytes as copied, not as staging memory held them before; an incremental one too (its blocks are hashed only once the section is in place).', async (t) => {
  const { main, store, writer, background } = await backgroundWriter(t);
  const staging = new Staging(16 * MiB);
  const region = (data: Uint8Array): SectionInput => ({ kind: 'region', name: 'grid', type: 'Float64Array', elementSize: 8, data });
  // Each image is planned, laid out, handed over, and only then copied, as a checkpoint does.
  const write = async (sequence: number, data: Uint8Array, previous: Parameters<typeof planImage>[1]['previous']) => {
    const sections = [{ kind: 'state', role: 'v8', name: 'clock', data: noise(37, sequence) } as SectionInput, region(data)];
    const expected = sections.map((s) => s.data.slice());
    const plan = planImage(sections, { previous, blockSize: writer.blockSize });
    const copy = staging.stage(sections.map((s) => ({ data: s.data, blocks: null })), writer.blockSize);
    if (copy === null) throw new Error('the sections did not fit the staging budget');
    sections.forEach((s, i) => (s.staged = copy.sections[i]));
    const committed = background.write({ header: header('job', sequence), sections, plan });
    // The writer thread has the image now; let it run before a byte is copied.
    await new Promise((resolve) => setTimeout(resolve, 50));
    copy.copy();
    const image = await committed;
    const reader = ImageReader.open(image.file, { codec: main, key: store.key });
    const back = reader.readSections(reader.manifest.sections);
    reader.close();
    return { image, same: back.every((b, i) => equalBytes(b, expected[i]!)) };
  };
  // The first image also starts the writer thread, which takes longer than the wait above.
  t.true((await write(1, noise(6 * MiB, 1), null)).same, 'the first image reads back as copied');
  // Each later image's staging memory holds the bytes of the one before until its copy runs.
  const full = await write(2, noise(6 * MiB, 2), null);
  t.true(full.same, 'a full image reads back as copied');
  const changed = noise(6 * MiB, 2);
  changed.fill(7, 3 * MiB, 3 * MiB + 10 * KiB);
  const incremental = await write(3, changed, full.image.manifest);
  t.true(incremental.same, 'an incremental image reads back as copied');
  t.true(incremental.image.sharedBytes > 5 * MiB, 'its unchanged blocks, hashed once in place, are shared with the image before');
  t.true(incremental.image.sharedBytes < 6 * MiB - 8 * KiB, 'its changed blocks are written');
});
