// The image reader under hostile input: property tests (fast-check) and a mutation fuzzer over
// real images written by the real checkpoint pipeline with each codec. Every input must end in a
// typed refusal (ImageCorruptError, ImageAuthError, ImageVersionError) or in a restore identical
// to the image's own snapshot; the reader never allocates beyond the documented bound
// (docs/image-format.md), and no committed image changes. Bounded: a fixed number of cases.
// The seed is printed; CR_TEST_SEED=<seed> replays a run, CR_FUZZ_SCALE=<n> runs n times the cases.
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import fs from 'node:fs';
import path from 'node:path';
import type { BlockCodec } from '../../src/codec/index.js';
import { ImageAuthError } from '../../src/errors.js';
import { FOOTER_LENGTH, HEADER_MAGIC } from '../../src/image/format.js';
import { ImageReader } from '../../src/image/reader.js';
import {
  Rng,
  buildCorpus,
  hashTree,
  isImageError,
  openBound,
  restore,
  sameSnapshot,
  attackerKey,
  type Corpus,
  type Image,
} from './fuzz-corpus.js';
import { fileName, hugeValues, interestingOffsets, partsOf, randomCase, withManifest, type Case } from './fuzz-mutations.js';
import { serializeState } from '../../src/capture/state-serializer.js';
import type { SectionInput } from '../../src/image/writer.js';
import { KiB, codecs, header, makeWriter, tempRoot, writeImage } from './helpers.js';
import { testSeed } from '../runner/helpers.js';

const SEED = testSeed();
/** CR_FUZZ_SCALE=10 runs ten times the cases (for a longer hunt than CI's). */
const SCALE = Math.max(1, Number(process.env.CR_FUZZ_SCALE ?? 1) || 1);
/** Mutation cases per corpus (one corpus per codec), each read with both codecs in turn. */
const MUTATION_CASES = 400 * SCALE;
/** Runs of each fast-check property. */
const PROPERTY_RUNS = 150 * SCALE;

const tmp = tempRoot('fuzz');
let corpora: Corpus[] = [];
let corpusRoot = '';
let committed = new Map<string, string>();
let readers: BlockCodec[] = [];
let caseNumber = 0;

test.before(async () => {
  const { all } = await codecs();
  readers = all;
  corpusRoot = tmp.dir('corpus');
  for (const [i, codec] of all.entries()) corpora.push(await buildCorpus(corpusRoot, codec, 11 + i));
  committed = hashTree(corpusRoot);
  // Printed on every run, so that a failure in CI can be replayed with CR_TEST_SEED.
  console.log(`image fuzz: seed ${SEED} (replay with CR_TEST_SEED=${SEED}); codecs ${all.map((c) => c.name).join(', ')}`);
});

test.after.always('no committed image changed', (t) => {
  if (corpusRoot) t.deepEqual(hashTree(corpusRoot), committed, 'the fuzzer must never change a committed image');
  tmp.cleanup();
});

/** Writes a case's files into a job directory of their own; returns the target's path. */
function lay(c: Case): { file: string; dir: string } {
  const dir = path.join(tmp.dir('case'), 'fuzz');
  fs.mkdirSync(dir);
  for (const [name, bytes] of c.files) fs.writeFileSync(path.join(dir, name), bytes);
  return { file: path.join(dir, c.target), dir: path.dirname(dir) };
}

function genuine(corpus: Corpus, job: string, sequence: number): Image | undefined {
  return [...corpus.fuzz, ...corpus.other].find((i) => i.job === job && i.sequence === sequence);
}

/**
 * Runs one case the way a restore from the store would, then the way `image verify` without a
 * key would. Returns what is wrong with the outcome, or null.
 */
/** How the cases ended, by error code and reason (or "restored"): logged, so that a run shows what it exercised. */
const endings = new Map<string, number>();

function judge(c: Case, corpus: Corpus, codec: BlockCodec): string | null {
  const { file, dir } = lay(c);
  try {
    let outcome;
    try {
      outcome = restore(file, codec, corpus.key, c.expect);
    } catch (err) {
      return `not a typed refusal: ${(err as Error)?.stack ?? String(err)}`;
    }
    if (outcome.openBytes > openBound(outcome.size)) return `open allocated ${outcome.openBytes} B for a file of ${outcome.size} B (bound ${openBound(outcome.size)})`;
    if (outcome.bytes > outcome.bound) return `the restore allocated ${outcome.bytes} B, bound ${outcome.bound}`;
    const ending = outcome.kind === 'restored' ? 'restored' : `${outcome.error.code}${'reason' in outcome.error ? ` ${String(outcome.error.reason)}` : ''}`;
    endings.set(ending, (endings.get(ending) ?? 0) + 1);
    if (c.mustRefuse && (outcome.kind === 'restored' || (c.mustRefuse !== 'any' && outcome.error.code !== c.mustRefuse))) {
      return `must be refused with ${c.mustRefuse}, got ${outcome.kind === 'restored' ? 'a restore' : outcome.error.code}`;
    }
    if (outcome.kind === 'restored') {
      const want = genuine(corpus, outcome.job, outcome.sequence);
      if (outcome.job !== c.expect.job || outcome.sequence !== c.expect.sequence) return `restored ${outcome.job} ${outcome.sequence} while ${c.expect.job} ${c.expect.sequence} was expected`;
      if (!want || !sameSnapshot(outcome.snapshot, want.snapshot)) return 'restored, but not to the image\'s own snapshot';
    }
    // Without a key (image inspect, or verify given no key) the tag is not checked: the outcome
    // may differ, but it is still a typed refusal or a verified read, never a crash.
    try {
      const reader = ImageReader.open(file, { codec, key: null });
      try {
        reader.verifyFull();
      } finally {
        reader.close();
      }
    } catch (err) {
      if (!isImageError(err)) return `keyless verify: not a typed refusal: ${(err as Error)?.stack ?? String(err)}`;
    }
    return null;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function report(t: ExecutionContext, failures: string[]): void {
  t.deepEqual(failures.slice(0, 10), [], `seed ${SEED}: ${failures.length} failing cases (replay with CR_TEST_SEED=${SEED})`);
}

test('Mutated real images (bit flips, cuts, splices, lying footers, replays, other images, missing or swapped bases) are refused with a typed error or restore exactly.', (t) => {
  t.timeout(180_000);
  const failures: string[] = [];
  for (const [ci, corpus] of corpora.entries()) {
    const rng = new Rng(SEED + ci);
    for (let i = 0; i < MUTATION_CASES; i++) {
      const c = randomCase(corpus, rng);
      const codec = readers[i % readers.length]!;
      const problem = judge(c, corpus, codec);
      if (problem) failures.push(`case ${caseNumber} (${c.what}; read with ${codec.name}): ${problem}`);
      caseNumber++;
    }
  }
  t.log(`seed ${SEED}: ${corpora.length * MUTATION_CASES} cases; ${[...endings].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`).join(', ')}`);
  report(t, failures);
});

test('Every truncation of every image at every boundary of the format is refused with a typed error.', (t) => {
  const failures: string[] = [];
  let cases = 0;
  for (const corpus of corpora) {
    for (const image of corpus.fuzz) {
      const bytes = fs.readFileSync(image.file);
      const files = new Map([...corpus.fuzz].map((i) => [fileName(i.sequence), fs.readFileSync(i.file)]));
      for (const at of interestingOffsets(partsOf(bytes))) {
        if (at >= bytes.length) continue;
        const c: Case = {
          what: `${corpus.codec.name} image ${image.sequence} cut at ${at}`,
          files: new Map(files).set(fileName(image.sequence), bytes.subarray(0, at)),
          target: fileName(image.sequence),
          expect: { job: 'fuzz', sequence: image.sequence },
          mustRefuse: 'any',
        };
        const problem = judge(c, corpus, corpus.codec);
        if (problem) failures.push(`${c.what}: ${problem}`);
        cases++;
      }
    }
  }
  t.true(cases > 100);
  report(t, failures);
});

test('Huge or lying manifest offsets and lengths in the footer are refused, and open allocates no more than the file holds.', (t) => {
  const failures: string[] = [];
  for (const corpus of corpora) {
    const image = corpus.fuzz[0]!;
    const bytes = fs.readFileSync(image.file);
    const parts = partsOf(bytes);
    for (const [field, real] of [[0, parts.manifestOffset], [8, parts.manifestBytes.length]] as const) {
      for (const value of hugeValues(real, bytes.length)) {
        if (value === BigInt(real)) continue;
        const out = Buffer.from(bytes);
        out.writeBigUInt64LE(value, bytes.length - FOOTER_LENGTH + field);
        const c: Case = { what: `${corpus.codec.name}: footer field ${field} = ${value}`, files: new Map([[fileName(1), out]]), target: fileName(1), expect: { job: 'fuzz', sequence: 1 }, mustRefuse: 'any' };
        const problem = judge(c, corpus, corpus.codec);
        if (problem) failures.push(`${c.what}: ${problem}`);
      }
    }
  }
  report(t, failures);
});

// --- properties ------------------------------------------------------------------------------

/** The file a property makes, read as image 1 of job "fuzz" of a corpus: it must be refused. */
function refused(corpus: Corpus, bytes: Uint8Array): string | null {
  const c: Case = { what: 'property', files: new Map([[fileName(1), Buffer.from(bytes)]]), target: fileName(1), expect: { job: 'fuzz', sequence: 1 }, mustRefuse: 'any' };
  return judge(c, corpus, corpus.codec);
}

test('Arbitrary bytes, with or without a cr header and footer magic, are refused with a typed error.', (t) => {
  const corpus = corpora[0]!;
  const header = Buffer.concat([HEADER_MAGIC, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0])]);
  const file = fc.oneof(
    fc.uint8Array({ maxLength: 4096 }),
    fc.uint8Array({ maxLength: 4096 }).map((b) => Buffer.concat([header, b])),
    fc.tuple(fc.uint8Array({ maxLength: 2048 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })).map(([body, offset, length]) => {
      const footer = Buffer.alloc(FOOTER_LENGTH);
      footer.writeBigUInt64LE(offset, 0);
      footer.writeBigUInt64LE(length, 8);
      Buffer.from('CREND\r\n\x1a', 'latin1').copy(footer, 56);
      return Buffer.concat([header, body, footer]);
    }),
  );
  fc.assert(
    fc.property(file, (bytes) => {
      const problem = refused(corpus, bytes);
      if (problem) throw new Error(problem);
    }),
    { seed: SEED, numRuns: PROPERTY_RUNS },
  );
  t.pass();
});

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

test('A cut at any byte of any image is refused with a typed error.', (t) => {
  fc.assert(
    fc.property(fc.nat(corpora.length * 3 - 1), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), (pick, where) => {
      const corpus = corpora[Math.floor(pick / 3)]!;
      const image = corpus.fuzz[pick % 3]!;
      const bytes = fs.readFileSync(image.file);
      const at = Math.floor(where * bytes.length);
      const files = new Map<string, Buffer>(corpus.fuzz.map((i) => [fileName(i.sequence), fs.readFileSync(i.file)]));
      const c: Case = { what: `cut at ${at}`, files: files.set(fileName(image.sequence), bytes.subarray(0, at)), target: fileName(image.sequence), expect: { job: 'fuzz', sequence: image.sequence }, mustRefuse: 'any' };
      const problem = judge(c, corpus, corpus.codec);
      if (problem) throw new Error(`${c.what} of image ${image.sequence}: ${problem}`);
    }),
    { seed: SEED, numRuns: PROPERTY_RUNS },
  );
  t.pass();
});

test('The corpus is what the fuzzer needs: both codecs when the addon loads, full and incremental images that restore exactly.', (t) => {
  t.true(corpora.length >= 1);
  for (const corpus of corpora) {
    t.deepEqual(corpus.fuzz.map((i) => i.manifest.parent === null), [true, false, false], corpus.codec.name);
    for (const image of [...corpus.fuzz, ...corpus.other]) {
      const outcome = restore(image.file, corpus.codec, corpus.key, { job: image.job, sequence: image.sequence });
      t.is(outcome.kind, 'restored', `${corpus.codec.name} ${image.job} ${image.sequence}`);
      if (outcome.kind === 'restored') t.true(sameSnapshot(outcome.snapshot, image.snapshot), `${corpus.codec.name} ${image.job} ${image.sequence}`);
      t.true(outcome.bytes <= outcome.bound);
    }
  }
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
