// The image reader under hostile input: property tests (fast-check) and a mutation fuzzer over
// real images written by the real checkpoint pipeline with each codec. Every input must end in a
// typed refusal (ImageCorruptError, ImageAuthError, ImageVersionError) or in a restore identical
// to the image's own snapshot; the reader never allocates beyond the documented bound
// (docs/image-format.md), and no committed image changes. Bounded: a fixed number of cases.
// The seed is printed; CR_TEST_SEED=<seed> replays a run, CR_FUZZ_SCALE=<n> runs n times the cases.
// What only a key holder can write (manifests and states re-signed with the key) is in
// fuzz-signed.test.ts.
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import fs from 'node:fs';
import { getNativeCodec, type BlockCodec } from '../../src/codec/index.js';
import { FOOTER_LENGTH, HEADER_MAGIC } from '../../src/image/format.js';
import { ImageReader } from '../../src/image/reader.js';
import { testSeed } from '../runner/helpers.js';
import {
  FUZZ_SCALE,
  PROPERTY_RUNS,
  Rng,
  buildCorpora,
  hashTree,
  isImageError,
  openBound,
  restore,
  sameSnapshot,
  type Corpus,
  type Image,
} from './fuzz-corpus.js';
import { fileName, hugeValues, interestingOffsets, layOut, partsOf, randomCase, type Case } from './fuzz-mutations.js';
import { codecs, tempRoot } from './helpers.js';

const SEED = testSeed();
/** Mutation cases per corpus (one corpus per codec), each read with both codecs in turn. */
const MUTATION_CASES = 400 * FUZZ_SCALE;

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
  corpora = await buildCorpora(corpusRoot, all);
  committed = hashTree(corpusRoot);
  // Printed on every run, so that a failure in CI can be replayed with CR_TEST_SEED.
  console.log(`image fuzz: seed ${SEED} (replay with CR_TEST_SEED=${SEED}); codecs ${all.map((c) => c.name).join(', ')}`);
});

test.after.always('no committed image changed', (t) => {
  if (corpusRoot) t.deepEqual(hashTree(corpusRoot), committed, 'the fuzzer must never change a committed image');
  tmp.cleanup();
});

function lay(c: Case): { file: string; dir: string } {
  return layOut(tmp.dir('case'), c);
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
  t.is(corpora.length, getNativeCodec() ? 2 : 1, 'a corpus per codec: native when the addon loads, and portable');
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
