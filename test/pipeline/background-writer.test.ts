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
  const staged = new Staging(16 * MiB).stage(sections.map((s) => ({ data: s.data, blocks: null })), writer.blockSize);
  if (staged === null) return t.fail('the sections did not fit the staging budget');
  sections.forEach((s, i) => (s.staged = staged[i]));
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
