// Images only a key holder can write: manifests edited and re-signed with the store's key (and,
// for contrast, with another key), a manifest that declares a state beyond any typed array, and
// arbitrary bytes where a state's serialization goes. The tag is right, so only the reader's
// validation stands between them and the job: each must end in a typed refusal or a restore
// without a crash, within the allocation bound (docs/image-format.md). Seeded like fuzz.test.ts.
import test from 'ava';
import fc from 'fast-check';
import fs from 'node:fs';
import path from 'node:path';
import { serializeState } from '../../src/capture/state-serializer.js';
import { ImageAuthError } from '../../src/errors.js';
import type { SectionInput } from '../../src/image/sections.js';
import { testSeed } from '../runner/helpers.js';
import { PROPERTY_RUNS, attackerKey, buildCorpora, hashTree, openBound, restore, type Corpus } from './fuzz-corpus.js';
import { fileName, layOut, partsOf, withManifest, type Case } from './fuzz-mutations.js';
import { KiB, codecs, header, makeWriter, tempRoot, writeImage } from './helpers.js';

const SEED = testSeed();
const tmp = tempRoot('fuzz-signed');
let corpora: Corpus[] = [];
let corpusRoot = '';
let committed = new Map<string, string>();

test.before(async () => {
  corpusRoot = tmp.dir('corpus');
  corpora = await buildCorpora(corpusRoot, (await codecs()).all);
  committed = hashTree(corpusRoot);
  console.log(`signed-image fuzz: seed ${SEED} (replay with CR_TEST_SEED=${SEED})`);
});

test.after.always('no committed image changed', (t) => {
  if (corpusRoot) t.deepEqual(hashTree(corpusRoot), committed, 'the fuzzer must never change a committed image');
  tmp.cleanup();
});

function lay(c: Case): { file: string; dir: string } {
  return layOut(tmp.dir('case'), c);
}

/** A change to a manifest: at the `at`-th value (depth first), set it, delete it, or duplicate it. */
type Edit = { at: number; how: 'set' | 'delete' | 'duplicate'; value: unknown };

const interesting = fc.oneof(
  fc.integer(),
  fc.constantFrom(-1, 0, 1, 15, 16, 4095, 4096, 4097, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 60, 1e308, -0, 0.5, -1e-9),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('__proto__', 'constructor', 'toString', 'Float64Array', 'BigInt64Array', '../x', '/etc/passwd', 'v8', 'buffer', 'region', 'state', 'zstd', 'fuzz-00000001', 'fuzz', '0000000000000000'),
  fc.stringMatching(/^[0-9a-f]{16}$/),
  fc.constant(null),
  fc.boolean(),
  fc.array(fc.nat(), { maxLength: 8 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.nat(), { maxKeys: 3 }),
);
const edits = fc.array(fc.record({ at: fc.nat(), how: fc.constantFrom<Edit['how']>('set', 'set', 'set', 'delete', 'duplicate'), value: interesting }), { minLength: 1, maxLength: 4 });

/** Every [container, key] of a parsed manifest, depth first. */
function slots(root: unknown): [Record<string | number, unknown>, string | number][] {
  const out: [Record<string | number, unknown>, string | number][] = [];
  const walk = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    const entries = Array.isArray(node) ? node.map((v, i) => [i, v] as const) : Object.entries(node);
    for (const [k, v] of entries) {
      out.push([node as Record<string | number, unknown>, k]);
      walk(v);
    }
  };
  walk(root);
  return out;
}

function applyEdits(manifestBytes: Buffer, list: Edit[]): Buffer {
  const m = JSON.parse(manifestBytes.toString('utf8')) as unknown;
  for (const e of list) {
    const all = slots(m);
    const [container, key] = all[e.at % all.length]!;
    if (e.how === 'set') container[key] = e.value;
    else if (e.how === 'delete') {
      if (Array.isArray(container)) container.splice(key as number, 1);
      else delete container[key];
    } else if (Array.isArray(container)) container.splice(key as number, 0, structuredClone(container[key]));
    else container[`${key}`] = structuredClone(container[key]);
  }
  return Buffer.from(JSON.stringify(m), 'utf8');
}

test('A manifest edited and re-signed with the store\'s key is refused with a typed error, or restores without a crash, within the bound.', (t) => {
  // What a key holder (or a writer bug) can produce: the tag is right, the content anything.
  fc.assert(
    fc.property(fc.nat(corpora.length * 3 - 1), edits, (pick, list) => {
      const corpus = corpora[Math.floor(pick / 3)]!;
      const image = corpus.fuzz[pick % 3]!;
      const parts = partsOf(fs.readFileSync(image.file));
      const bytes = withManifest(parts, applyEdits(parts.manifestBytes, list), corpus.key, corpus.codec);
      const files = new Map<string, Buffer>(corpus.fuzz.map((i) => [fileName(i.sequence), fs.readFileSync(i.file)]));
      files.set(fileName(image.sequence), bytes);
      const { file, dir } = lay({ what: '', files, target: fileName(image.sequence), expect: { job: 'fuzz', sequence: image.sequence } });
      try {
        let outcome;
        try {
          outcome = restore(file, corpus.codec, corpus.key, { job: 'fuzz' }, true);
        } catch (err) {
          throw new Error(`edits ${JSON.stringify(list)} on image ${image.sequence}: not a typed refusal: ${(err as Error)?.stack ?? String(err)}`);
        }
        if (outcome.openBytes > openBound(outcome.size)) throw new Error(`open allocated ${outcome.openBytes} B of a ${outcome.size} B file`);
        if (outcome.kind === 'restored' && outcome.bytes > outcome.bound) throw new Error(`allocated ${outcome.bytes} B, bound ${outcome.bound}`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }),
    { seed: SEED, numRuns: PROPERTY_RUNS },
  );
  t.pass();
});

test('A manifest edited and re-signed without the store\'s key is always refused as ImageAuthError.', (t) => {
  fc.assert(
    fc.property(fc.nat(corpora.length * 3 - 1), edits, (pick, list) => {
      const corpus = corpora[Math.floor(pick / 3)]!;
      const image = corpus.fuzz[pick % 3]!;
      const parts = partsOf(fs.readFileSync(image.file));
      const bytes = withManifest(parts, applyEdits(parts.manifestBytes, list), attackerKey, corpus.codec);
      const c: Case = { what: '', files: new Map([[fileName(image.sequence), bytes]]), target: fileName(image.sequence), expect: { job: 'fuzz', sequence: image.sequence } };
      const { file, dir } = lay(c);
      try {
        const outcome = restore(file, corpus.codec, corpus.key, c.expect);
        if (outcome.kind !== 'refused' || !(outcome.error instanceof ImageAuthError)) throw new Error(`edits ${JSON.stringify(list)}: ${outcome.kind === 'refused' ? outcome.error.message : 'restored'}`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }),
    { seed: SEED, numRuns: PROPERTY_RUNS },
  );
  t.pass();
});

// Found while working out the reader's allocation bound for this suite: a tagged manifest may
// declare a state longer than the largest typed array Node makes (4 GiB), in few enough 1 MiB
// blocks to pass every count check; decoding it then threw a bare RangeError, which the runner
// does not treat as a damaged image (it retried the same image instead of the one before).
test('A signed manifest that declares a state larger than any typed array is refused as corrupt, before it is allocated.', (t) => {
  for (const corpus of corpora) {
    const image = corpus.fuzz[0]!;
    const parts = partsOf(fs.readFileSync(image.file));
    const m = JSON.parse(parts.manifestBytes.toString('utf8')) as Record<string, any>;
    // A zstd block: its stored length need not equal its raw length.
    const first = (m.sections as { blocks: unknown[][] }[]).flatMap((s) => s.blocks).find((b) => b[3] !== 0)!;
    const length = 2 ** 32 + 4096;
    const count = Math.ceil(length / 2 ** 20);
    m.blockSize = 2 ** 20;
    m.sections = [
      {
        ...m.sections[0],
        length,
        blocks: Array.from({ length: count }, (_, i) => [first[0], first[1], i === count - 1 ? length - i * 2 ** 20 : 2 ** 20, first[3], first[4], first[5]]),
      },
    ];
    const bytes = withManifest(parts, Buffer.from(JSON.stringify(m)), corpus.key, corpus.codec);
    const { file, dir } = lay({ what: '', files: new Map([[fileName(1), bytes]]), target: fileName(1), expect: { job: 'fuzz', sequence: 1 } });
    try {
      const outcome = restore(file, corpus.codec, corpus.key, { job: 'fuzz', sequence: 1 });
      t.is(outcome.kind, 'refused', corpus.codec.name);
      if (outcome.kind === 'refused') {
        t.is(outcome.error.code, 'CR_IMAGE_CORRUPT');
        t.regex(outcome.error.message, /section 0 .*larger than/);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('A signed image whose state bytes are anything (a damaged serialization, random bytes) is refused as corrupt or restores a value, never a crash.', async (t) => {
  // Only a key holder can write such an image: it reaches v8's deserializer and cr's view decoding.
  const corpus = corpora[0]!;
  const sample = serializeState('progress', { step: 3, list: [1, 'a', null], m: new Map([[1, 2n]]), when: new Date(0), view: new Float64Array(4), bytes: new Uint8Array(9) });
  const writer = makeWriter({ codec: corpus.codec, key: corpus.key, blockSize: 4 * KiB });
  const dir = tmp.dir('v8');
  const v8Bytes = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([Buffer.from([0xff, 0x0f]), b])),
    fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }).map((edits) => {
      const b = Buffer.from(sample.v8);
      for (const [at, v] of edits) b[at % b.length] = v;
      return b;
    }),
  );
  let restored = 0;
  await fc.assert(
    fc.asyncProperty(v8Bytes, async (v8) => {
      const file = path.join(dir, fileName(1));
      const inputs: SectionInput[] = [
        { kind: 'state', role: 'v8', name: 'progress', data: v8 },
        ...sample.buffers.map((b, index): SectionInput => ({ kind: 'state', role: 'buffer', name: 'progress', index, elementSize: b.elementSize, data: b.data })),
      ];
      await writeImage(file, { codec: corpus.codec, key: corpus.key }, inputs, header('fuzz', 1), writer);
      let outcome;
      try {
        outcome = restore(file, corpus.codec, corpus.key, { job: 'fuzz', sequence: 1 });
      } catch (err) {
        throw new Error(`state bytes ${Buffer.from(v8).toString('hex')}: not a typed refusal: ${(err as Error)?.stack ?? String(err)}`);
      }
      if (outcome.kind === 'restored') restored++;
      else if (outcome.error.code !== 'CR_IMAGE_CORRUPT') throw new Error(`refused as ${outcome.error.code}`);
    }),
    { seed: SEED, numRuns: PROPERTY_RUNS },
  );
  t.log(`${restored} of ${PROPERTY_RUNS} arbitrary states deserialized to a value`);
  t.pass();
});
