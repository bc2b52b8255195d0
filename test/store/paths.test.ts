// Names never become paths unchecked: job names (from --name, a job file's name, or a method's
// argument), image numbers, key files and --from images. Traversal, absolute paths, NUL bytes,
// dot names and very long names are refused with a clear error, and nothing outside the store is
// created or removed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import type { BlockCodec } from '../../src/codec/index.js';
import { KeyError } from '../../src/errors.js';
import { JOB_NAME_PATTERN } from '../../src/image/format.js';
import { readKeyFile } from '../../src/store/key.js';
import { LocalStore } from '../../src/store/local-store.js';
import { hashTree } from '../image/fuzz-corpus.js';
import { KiB, codecs, header, makeWriter, smallInputs, tempRoot } from '../image/helpers.js';
import { FIXTURES, STACK_FRAME, runCli, show, testSeed } from '../runner/helpers.js';

const SEED = testSeed();
const COUNTER = path.join(FIXTURES, 'counter-job.mjs');
const tmp = tempRoot('paths');
test.after.always(() => tmp.cleanup());

let codec: BlockCodec;
test.before(async () => {
  codec = (await codecs()).main;
});

/** Names built from the pieces of path attacks, and arbitrary strings. */
const hostileName = fc.oneof(
  fc.array(fc.constantFrom('..', '.', '/', '\\', '\0', '~', 'a', 'Z', '9', '-', '_', '.crimg', 'lock', '.key', ' ', '\n', 'é', '%2e', '//'), { maxLength: 8 }).map((parts) => parts.join('')),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.nat({ max: 300 }).map((n) => 'a'.repeat(n)),
  fc.constantFrom('../x', '..', '.', '', '/abs', '/etc/passwd', 'a/../../x', '.hidden', 'a\0b', 'x'.repeat(129), 'C:\\x', '\\\\host\\share'),
);

test('Any name is either a valid job name naming a directory directly inside the store, or refused by every method with TypeError, creating nothing.', async (t) => {
  const parent = tmp.dir('iso');
  const store = LocalStore.open({ dir: path.join(parent, 'store') });
  const before = hashTree(parent);
  let valid = 0;
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(hostileName, async (name) => {
      if (JOB_NAME_PATTERN.test(name)) {
        valid++;
        const dir = store.jobDir(name);
        if (path.dirname(dir) !== store.dir || path.basename(dir) !== name) throw new Error(`${JSON.stringify(name)} → ${dir}`);
        if (path.dirname(store.imageFile(name, 7)) !== dir) throw new Error(`image of ${JSON.stringify(name)} outside its directory`);
        return;
      }
      refused++;
      const calls: [string, () => unknown][] = [
        ['jobDir', () => store.jobDir(name)],
        ['list', () => store.list(name)],
        ['nextSequence', () => store.nextSequence(name)],
        ['imageFile', () => store.imageFile(name, 1)],
        ['latest', () => store.latest(name, codec)],
        ['removeStaleTemps', () => store.removeStaleTemps(name)],
        ['lock', () => store.lock(name)],
        ['prune', () => store.prune(name)],
        ['commit', () => store.commit(name, 1, async () => undefined)],
      ];
      for (const [method, call] of calls) {
        let error: unknown = null;
        try {
          await call();
        } catch (err) {
          error = err;
        }
        if (!(error instanceof TypeError) || !/^job name .* is not valid: use letters, digits/.test(error.message)) {
          throw new Error(`${method}(${JSON.stringify(name)}): ${error === null ? 'accepted' : String(error)}`);
        }
      }
    }),
    { seed: SEED, numRuns: 400 },
  );
  t.true(valid > 0 && refused > 0, `${valid} valid, ${refused} refused`);
  t.deepEqual(hashTree(parent), before, 'nothing was created or removed, in the store or beside it');
});

test('An image number that is not a positive whole number is refused before anything is created.', async (t) => {
  const parent = tmp.dir('seq');
  const store = LocalStore.open({ dir: path.join(parent, 'store') });
  for (const sequence of [0, -1, 1.5, NaN, Infinity, 2 ** 53, -0]) {
    t.throws(() => store.imageFile('job', sequence), { instanceOf: RangeError, message: /an image sequence is a positive whole number/ }, String(sequence));
    await t.throwsAsync(store.commit('job', sequence, async () => undefined), { instanceOf: RangeError }, String(sequence));
  }
  t.deepEqual(fs.readdirSync(store.dir), ['.key'], 'no job directory was created');
});

test('A key file that is a directory, a FIFO, a device or too large is refused with KeyError, without blocking.', (t) => {
  const dir = tmp.dir('keys');
  const fifo = path.join(dir, 'fifo');
  const made = spawnSync('mkfifo', [fifo]);
  const big = path.join(dir, 'big');
  fs.writeFileSync(big, Buffer.alloc(1024 * 1024, 1));
  const cases: [string, RegExp][] = [
    [dir, /is not a regular file/],
    ['/dev/zero', /is not a regular file/],
    [big, /is 1048576 bytes: a key file holds a key of at most 4096 bytes/],
    [path.join(dir, 'missing'), /cannot read the image key file .*missing: ENOENT/],
  ];
  if (made.status === 0) cases.push([fifo, /is not a regular file/]);
  else t.log(`mkfifo failed (${made.stderr?.toString().trim()}): the FIFO case is skipped`);
  for (const [file, message] of cases) {
    const err = t.throws(() => readKeyFile(file), { instanceOf: KeyError }, file);
    t.is(err.code, 'CR_KEY_INVALID');
    t.regex(err.message, message, file);
    t.throws(() => LocalStore.open({ dir: path.join(dir, 'store'), keyFile: file }), { instanceOf: KeyError }, file);
  }
  // The store's own key, replaced by a FIFO (or a directory), is refused the same way.
  const store = tmp.dir('fifo-store');
  fs.mkdirSync(path.join(store, '.key'));
  t.throws(() => LocalStore.open({ dir: store }), { instanceOf: KeyError, message: /the store's image key .*\.key is not a regular file/ });
});

/** Writes a committed image 1 of `job` into `storeDir`; returns its file. */
async function someImage(storeDir: string, job: string): Promise<string> {
  const store = LocalStore.open({ dir: storeDir });
  const writer = makeWriter({ codec, key: store.key, blockSize: 4 * KiB });
  const { file } = await store.commit(job, 1, (handle) => writer.write(handle, header(job, 1), smallInputs(1)));
  return file;
}

const BAD_NAMES: [string, RegExp][] = [
  ['../x', /job name "\.\.\/x" is not valid/],
  ['/abs', /job name "\/abs" is not valid/],
  ['..', /job name "\.\." is not valid/],
  ['.hidden', /job name "\.hidden" is not valid/],
  ['a'.repeat(300), /job name "a{300}" is not valid/],
  ['a\nb', /job name "a\\nb" is not valid/],
];

for (const [name, message] of BAD_NAMES) {
  test(`cr-scheduler run --name ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}…` : name)} is a usage error that creates nothing.`, async (t) => {
    const dir = tmp.dir('cli-name');
    const store = path.join(dir, 'store');
    const run = await runCli(t, ['run', COUNTER, '--store', store, '--name', name]);
    t.is(run.code, 2, show(run));
    const lines = run.stderr.split('\n').filter((l) => l !== '');
    t.is(lines.length, 1, run.stderr);
    t.regex(lines[0]!, message);
    t.regex(lines[0]!, /pick one with --name$/);
    t.notRegex(run.stderr, STACK_FRAME);
    t.deepEqual(fs.readdirSync(dir), [], 'neither the store nor anything beside it was created');
  });
}

test('A job file whose name is not a job name asks for --name, and creates nothing.', async (t) => {
  const dir = tmp.dir('cli-file');
  const job = path.join(dir, 'my job (v2).mjs');
  fs.copyFileSync(COUNTER, job);
  const run = await runCli(t, ['run', job, '--store', path.join(dir, 'store')]);
  t.is(run.code, 2, show(run));
  t.regex(run.stderr, /^cr-scheduler: job name "my job \(v2\)" is not valid: .*; pick one with --name\n$/);
  t.deepEqual(fs.readdirSync(dir), ['my job (v2).mjs']);
});

test('--from reads an image outside the store without changing anything there; new images go to the store.', async (t) => {
  const dir = tmp.dir('from');
  const elsewhere = path.join(dir, 'elsewhere');
  const first = await runCli(t, ['run', COUNTER, '--store', elsewhere, '--args', '{"steps":3}', '--every', '1']);
  t.is(first.code, 0, show(first));
  // A finished run keeps its last image (and the ones it shares blocks with).
  const image = path.join(elsewhere, 'counter-job', fs.readdirSync(path.join(elsewhere, 'counter-job')).filter((n) => /^\d{8}\.crimg$/.test(n)).sort().at(-1)!);
  const before = hashTree(elsewhere);
  const store = path.join(dir, 'store');
  // Another store's image carries that store's key: it is given with --key-file.
  const run = await runCli(t, ['run', COUNTER, '--store', store, '--from', image, '--key-file', path.join(elsewhere, '.key'), '--args', '{"steps":5}', '--every', '1']);
  t.is(run.code, 0, show(run));
  t.regex(run.stderr, /resuming "counter-job" from image counter-job-\d{8}/);
  t.regex(run.stderr, /counter: resumed at step 3 /);
  // Other args than the image's: said, and resumed all the same, as --from is the user's choice.
  t.regex(run.stderr, /^warning: image .+ was made by another computation: its args differ \(steps was 3, now 5\); resuming from it, as it was named explicitly$/m);
  t.deepEqual(hashTree(elsewhere), before, 'the --from directory is untouched');
  t.true(fs.readdirSync(path.join(store, 'counter-job')).some((n) => /^\d{8}\.crimg$/.test(n)), 'the new images are in the store');
});

test('--from an image of another job is refused with a clear error, and neither store changes.', async (t) => {
  const dir = tmp.dir('from-other');
  const store = path.join(dir, 'store');
  const image = await someImage(store, 'other-job');
  const before = hashTree(dir);
  const run = await runCli(t, ['run', COUNTER, '--store', store, '--from', image, '--retries', '0']);
  t.is(run.code, 1, show(run));
  t.regex(run.stderr, /the image belongs to job "other-job", not "counter-job"/);
  t.notRegex(run.stderr, STACK_FRAME);
  const after = hashTree(dir);
  for (const [file, hash] of before) if (file !== path.join('store', 'counter-job', 'lock')) t.is(after.get(file), hash, file);
  t.deepEqual([...after.keys()].filter((f) => !before.has(f)), [], 'nothing new but an empty job directory');
});

test('A symlink planted at the temp name of the next image is replaced, and the file it points to is left alone.', async (t) => {
  const dir = tmp.dir('symlink');
  const victim = path.join(dir, 'victim.txt');
  fs.writeFileSync(victim, 'not an image\n');
  const storeDir = path.join(dir, 'store');
  const store = LocalStore.open({ dir: storeDir });
  fs.mkdirSync(store.jobDir('job'));
  fs.symlinkSync(victim, path.join(store.jobDir('job'), `.00000001.crimg.tmp.${process.pid}`));
  const file = await someImage(storeDir, 'job');
  t.is(fs.readFileSync(victim, 'utf8'), 'not an image\n');
  t.deepEqual(fs.readdirSync(store.jobDir('job')), ['00000001.crimg'], 'the link is gone, no temp is left');
  const reader = store.openImage(file, codec, { job: 'job', sequence: 1 });
  t.notThrows(() => reader.verifyStored());
  reader.close();
});
