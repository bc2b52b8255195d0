// LocalStore: the key, atomic commits, sequence numbers, retention, choosing the image to restore,
// stale temp files, the job lock, and job names that stay inside the store.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BlockCodec } from '../../src/codec/index.js';
import { ImageAuthError, ImageCorruptError, NoImageError, StoreLockedError } from '../../src/errors.js';
import { LocalStore, type LocalStoreOptions } from '../../src/store/local-store.js';
import { KiB, codecs, header, makeWriter, newKey, smallInputs, splitImage, tempRoot, withReader } from '../image/helpers.js';

const tmp = tempRoot('store');
test.after.always(() => tmp.cleanup());

let codec: BlockCodec;
test.before(async () => {
  codec = (await codecs()).main;
});

function openStore(options: Partial<LocalStoreOptions> = {}): LocalStore {
  return LocalStore.open({ dir: tmp.dir('store'), keepImages: 10, ...options });
}

/** Commits image `sequence` of `job` written by an ImageWriter with the store's key. */
async function commitImage(store: LocalStore, job: string, sequence: number): Promise<string> {
  const writer = makeWriter({ codec, key: store.key, blockSize: 4 * KiB });
  const { file } = await store.commit(job, sequence, (handle) => writer.write(handle, header(job, sequence), smallInputs(sequence)));
  return file;
}

async function commitMany(store: LocalStore, job: string, sequences: number[]): Promise<void> {
  for (const s of sequences) await commitImage(store, job, s);
}

/** A pid that belonged to a process which has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  if (!child.pid) throw new Error('test bug: could not start a child process');
  return child.pid;
}

function flipByteAt(file: string, at: number): void {
  const bytes = fs.readFileSync(file);
  bytes[at]! ^= 0x10;
  fs.writeFileSync(file, bytes);
}

function firstBlockByte(file: string): number {
  return splitImage(file).manifest.sections[0]!.blocks[0]![0] + 3;
}

// --- key -------------------------------------------------------------------------------------

test('The store creates its key on first use with mode 0600, and reuses it afterwards.', async (t) => {
  const dir = tmp.dir('store');
  const first = LocalStore.open({ dir });
  const keyFile = path.join(dir, '.key');
  t.is(fs.statSync(keyFile).mode & 0o777, 0o600);
  t.is(first.key.length, 32);
  t.true(fs.readFileSync(keyFile).equals(first.key));
  t.deepEqual(fs.readdirSync(dir), ['.key'], 'no temp file is left behind');
  const image = await commitImage(first, 'job', 1);

  const second = LocalStore.open({ dir });
  t.true(second.key.equals(first.key));
  t.notThrows(() => withReader(image, codec, second.key, (r) => r.verifyStored()));
  t.false(LocalStore.open({ dir: tmp.dir('store') }).key.equals(first.key), 'another store has another key');
});

test('An explicit key file is used as raw bytes or as hex text, and no store key is created.', async (t) => {
  const keys = tmp.dir('keys');
  const raw = newKey();
  const rawFile = path.join(keys, 'raw.key');
  const hexFile = path.join(keys, 'hex.key');
  fs.writeFileSync(rawFile, raw);
  fs.writeFileSync(hexFile, `${raw.toString('hex').toUpperCase()}\n`);
  const dir = tmp.dir('store');
  const byRaw = LocalStore.open({ dir, keyFile: rawFile });
  const byHex = LocalStore.open({ dir, keyFile: hexFile });
  t.true(byRaw.key.equals(raw));
  t.true(byHex.key.equals(raw));
  t.false(fs.existsSync(path.join(dir, '.key')));

  const short = path.join(keys, 'short.key');
  fs.writeFileSync(short, newKey().subarray(0, 16));
  t.is(LocalStore.open({ dir, keyFile: short }).key.length, 16, 'a 16-byte key is accepted');

  const image = await commitImage(byRaw, 'job', 1);
  t.notThrows(() => withReader(image, codec, byHex.key, (r) => r.verifyStored()));
  const err = t.throws<ImageAuthError>(() => LocalStore.open({ dir }).openImage(image, codec), { instanceOf: ImageAuthError });
  t.is(err.code, 'CR_IMAGE_AUTH');
});

test('A damaged, short or missing key file is refused with an error that says what is wrong.', (t) => {
  // The store's own key, damaged (here: cut short).
  const dir = tmp.dir('store');
  LocalStore.open({ dir });
  fs.writeFileSync(path.join(dir, '.key'), Buffer.alloc(10));
  let err = t.throws(() => LocalStore.open({ dir }), { instanceOf: Error });
  t.regex(err.message, /key .*key is 10 bytes, expected 32: it is damaged/);
  fs.writeFileSync(path.join(dir, '.key'), Buffer.alloc(0));
  err = t.throws(() => LocalStore.open({ dir }), { instanceOf: Error });
  t.regex(err.message, /is 0 bytes, expected 32/);

  const keys = tmp.dir('keys');
  const short = path.join(keys, 'short.key');
  fs.writeFileSync(short, Buffer.alloc(15, 1));
  err = t.throws(() => LocalStore.open({ dir: tmp.dir('store'), keyFile: short }), { instanceOf: Error });
  t.regex(err.message, /short\.key holds 15 bytes; a key has at least 16/);
  const shortHex = path.join(keys, 'short-hex.key');
  fs.writeFileSync(shortHex, 'abcd'); // 4 bytes of text: not hex of 16 bytes, and too short raw
  err = t.throws(() => LocalStore.open({ dir: tmp.dir('store'), keyFile: shortHex }), { instanceOf: Error });
  t.regex(err.message, /holds 4 bytes/);
  err = t.throws(() => LocalStore.open({ dir: tmp.dir('store'), keyFile: path.join(keys, 'missing.key') }), { instanceOf: Error });
  t.regex(err.message, /cannot read the image key file .*missing\.key: ENOENT/);
});

test('keepImages must be a positive integer.', (t) => {
  for (const keepImages of [0, -1, 1.5, NaN]) {
    const err = t.throws(() => LocalStore.open({ dir: tmp.dir('store'), keepImages }), { instanceOf: RangeError });
    t.regex(err.message, /keepImages must be a positive integer/);
  }
});

// --- commit ----------------------------------------------------------------------------------

test('A commit publishes the image under its number, mode 0600, and leaves no temp file.', async (t) => {
  const store = openStore();
  const writer = makeWriter({ codec, key: store.key, blockSize: 4 * KiB });
  const { file, result } = await store.commit('job', 1, (handle) => writer.write(handle, header('job', 1), smallInputs(1)));
  t.is(file, path.join(store.dir, 'job', '00000001.crimg'));
  t.is(file, store.imageFile('job', 1));
  t.is(result.bytes, fs.statSync(file).size);
  t.is(fs.statSync(file).mode & 0o777, 0o600);
  t.deepEqual(fs.readdirSync(store.jobDir('job')), ['00000001.crimg']);
  t.deepEqual(store.list('job'), [{ job: 'job', sequence: 1, file, bytes: result.bytes }]);
  withReader(file, codec, store.key, (r) => r.verifyFull(), { job: 'job', sequence: 1 });
});

test('A write callback that throws leaves no image, no temp file, and the previous image untouched.', async (t) => {
  const store = openStore();
  const first = await commitImage(store, 'job', 1);
  const before = fs.readFileSync(first);
  let tempSeen: string[] = [];
  const err = await t.throwsAsync(
    store.commit('job', 2, async (handle) => {
      await handle.write(Buffer.from('half an image'));
      tempSeen = fs.readdirSync(store.jobDir('job')).filter((n) => n.startsWith('.'));
      throw new Error('disk on fire');
    }),
    { message: 'disk on fire' },
  );
  t.truthy(err);
  t.deepEqual(tempSeen, [`.00000002.crimg.tmp.${process.pid}`], 'the image was written to a temp file');
  t.deepEqual(fs.readdirSync(store.jobDir('job')), ['00000001.crimg']);
  t.true(fs.readFileSync(first).equals(before));
  t.deepEqual(store.list('job').map((e) => e.sequence), [1]);
  t.is(store.nextSequence('job'), 2);
});

test('A commit never replaces an image that already has its number.', async (t) => {
  const store = openStore();
  const file = await commitImage(store, 'job', 1);
  const before = fs.readFileSync(file);
  const err = await t.throwsAsync(commitImage(store, 'job', 1));
  t.is((err as NodeJS.ErrnoException).code, 'EEXIST');
  t.true(fs.readFileSync(file).equals(before));
  t.deepEqual(fs.readdirSync(store.jobDir('job')), ['00000001.crimg']);
});

test('nextSequence never hands out a committed number, even after middle images are deleted.', async (t) => {
  const store = openStore();
  t.is(store.nextSequence('job'), 1);
  await commitMany(store, 'job', [1, 2, 3, 4]);
  t.is(store.nextSequence('job'), 5);
  const entries = store.list('job');
  store.removeImage(entries[1]!); // 2
  t.is(store.nextSequence('job'), 5);
  store.removeImage(entries[0]!); // 1
  store.removeImage(entries[2]!); // 3
  t.deepEqual(store.list('job').map((e) => e.sequence), [4]);
  t.is(store.nextSequence('job'), 5);
  // Temp files and other names are not images and do not count.
  fs.writeFileSync(path.join(store.jobDir('job'), '.00000009.crimg.tmp.1'), '');
  fs.writeFileSync(path.join(store.jobDir('job'), '7.crimg'), '');
  fs.writeFileSync(path.join(store.jobDir('job'), '00000008.crimg.bak'), '');
  t.is(store.nextSequence('job'), 5);
  t.false(fs.existsSync(entries[1]!.file));
});

test('Each commit keeps only the newest keepImages images.', async (t) => {
  const store = openStore({ keepImages: 3 });
  await commitMany(store, 'job', [1, 2, 3]);
  t.deepEqual(store.list('job').map((e) => e.sequence), [1, 2, 3]);
  await commitMany(store, 'job', [4, 5, 6]);
  t.deepEqual(store.list('job').map((e) => e.sequence), [4, 5, 6]);
  t.deepEqual(fs.readdirSync(store.jobDir('job')).sort(), ['00000004.crimg', '00000005.crimg', '00000006.crimg']);
  const one = openStore({ keepImages: 1 });
  await commitMany(one, 'job', [1, 2]);
  t.deepEqual(one.list('job').map((e) => e.sequence), [2]);
  // Jobs are pruned separately.
  await commitMany(store, 'other', [1]);
  t.deepEqual(store.list('job').map((e) => e.sequence), [4, 5, 6]);
  t.deepEqual(store.list('other').map((e) => e.sequence), [1]);
});

// --- latest ----------------------------------------------------------------------------------

test('latest() returns the newest image, verified, with nothing skipped; null when the job has none.', async (t) => {
  const store = openStore();
  t.is(store.latest('job', codec), null);
  await commitMany(store, 'job', [1, 2, 3]);
  const latest = store.latest('job', codec)!;
  try {
    t.is(latest.entry.sequence, 3);
    t.deepEqual(latest.skipped, []);
    t.is(latest.reader.manifest.sequence, 3);
    t.true(latest.reader.authenticated);
  } finally {
    latest.reader.close();
  }
});

test('latest() passes over damaged newer images and says why each was skipped.', async (t) => {
  const store = openStore();
  await commitMany(store, 'job', [1, 2, 3, 4]);
  const files = store.list('job').map((e) => e.file);
  flipByteAt(files[3]!, firstBlockByte(files[3]!)); // 4: a block
  const p2 = splitImage(files[2]!);
  flipByteAt(files[2]!, p2.manifestOffset + 10); // 3: the manifest
  fs.truncateSync(files[1]!, fs.statSync(files[1]!).size - 1); // 2: cut short
  const latest = store.latest('job', codec)!;
  try {
    t.is(latest.entry.sequence, 1);
    t.deepEqual(latest.skipped.map((s) => s.entry.sequence), [4, 3, 2]);
    const reasons = latest.skipped.map((s) => {
      t.true(s.error instanceof ImageCorruptError);
      t.is((s.error as ImageCorruptError).code, 'CR_IMAGE_CORRUPT');
      return (s.error as ImageCorruptError).reason;
    });
    t.deepEqual(reasons, ['block', 'manifest-hash', 'truncated']);
  } finally {
    latest.reader.close();
  }
});

test('latest() throws NoImageError when images exist but none verifies.', async (t) => {
  const store = openStore();
  await commitMany(store, 'job', [1, 2]);
  for (const e of store.list('job')) flipByteAt(e.file, firstBlockByte(e.file));
  const err = t.throws<NoImageError>(() => store.latest('job', codec), { instanceOf: NoImageError });
  t.is(err.code, 'CR_NO_IMAGE');
  t.regex(err.message, /none of the 2 images of job "job" in .* verifies \(newest: .*00000002\.crimg: .*block 0 is damaged/);
});

test('latest() skips excluded sequences and reports them.', async (t) => {
  const store = openStore();
  await commitMany(store, 'job', [1, 2, 3]);
  const latest = store.latest('job', codec, [3])!;
  try {
    t.is(latest.entry.sequence, 2);
    t.deepEqual(latest.skipped.map((s) => s.entry.sequence), [3]);
    t.regex(latest.skipped[0]!.error.message, /failed while being restored/);
  } finally {
    latest.reader.close();
  }
  const err = t.throws<NoImageError>(() => store.latest('job', codec, [1, 2, 3]), { instanceOf: NoImageError });
  t.is(err.code, 'CR_NO_IMAGE');
});

test('latest() passes over an image of another job, an image under another number, and an image with another key.', async (t) => {
  const store = openStore();
  await commitMany(store, 'job', [1]);
  await commitMany(store, 'other', [2]);
  // Image 2 of "other" copied into "job" as number 2; image 1 of "job" copied as number 3.
  fs.copyFileSync(store.imageFile('other', 2), store.imageFile('job', 2));
  fs.copyFileSync(store.imageFile('job', 1), store.imageFile('job', 3));
  // Number 4 written with another store's key.
  const stranger = openStore();
  await commitImage(stranger, 'job', 4);
  fs.copyFileSync(stranger.imageFile('job', 4), store.imageFile('job', 4));

  const latest = store.latest('job', codec)!;
  try {
    t.is(latest.entry.sequence, 1);
    t.deepEqual(latest.skipped.map((s) => s.entry.sequence), [4, 3, 2]);
    const [auth, renamed, foreign] = latest.skipped.map((s) => s.error);
    t.true(auth instanceof ImageAuthError);
    t.is((auth as ImageAuthError).code, 'CR_IMAGE_AUTH');
    t.true(renamed instanceof ImageCorruptError);
    t.is((renamed as ImageCorruptError).reason, 'mismatch');
    t.regex(renamed!.message, /number 1, its file name says 3/);
    t.true(foreign instanceof ImageCorruptError);
    t.is((foreign as ImageCorruptError).reason, 'mismatch');
    t.regex(foreign!.message, /belongs to job "other", not "job"/);
  } finally {
    latest.reader.close();
  }
});

// --- temp files ------------------------------------------------------------------------------

test('removeStaleTemps removes temp files of dead writers, and keeps ours and those of live processes.', async (t) => {
  const store = openStore();
  await commitMany(store, 'job', [1]);
  const dir = store.jobDir('job');
  const dead = deadPid();
  const names = {
    dead: `.00000002.crimg.tmp.${dead}`,
    ours: `.00000003.crimg.tmp.${process.pid}`,
    parent: `.00000004.crimg.tmp.${process.ppid}`,
    other: `.notes.tmp.${dead}`,
  };
  for (const name of Object.values(names)) fs.writeFileSync(path.join(dir, name), 'partial');
  t.deepEqual(store.list('job').map((e) => e.sequence), [1], 'temp files are never listed');
  t.is(store.removeStaleTemps('job'), 1);
  t.deepEqual(fs.readdirSync(dir).sort(), ['00000001.crimg', names.ours, names.parent, names.other].sort());
  t.is(store.removeStaleTemps('job'), 0);
  t.is(store.removeStaleTemps('never-ran'), 0);
});

// --- lock ------------------------------------------------------------------------------------

test('A second lock while the first is held throws StoreLockedError; once released the lock can be taken again.', (t) => {
  const store = openStore();
  const release = store.lock('job');
  const lockFile = path.join(store.jobDir('job'), 'lock');
  t.is(fs.readFileSync(lockFile, 'utf8'), `${process.pid} ${os.hostname()}\n`);
  const err = t.throws<StoreLockedError>(() => store.lock('job'), { instanceOf: StoreLockedError });
  t.is(err.code, 'CR_STORE_LOCKED');
  t.regex(err.message, new RegExp(`job "job" is already running in process ${process.pid}`));
  t.notThrows(() => store.lock('other')(), 'another job has its own lock');
  release();
  release(); // idempotent
  t.false(fs.existsSync(lockFile));
  const again = store.lock('job');
  t.true(fs.existsSync(lockFile));
  again();
});

test('A lock left by a dead process, or an empty or garbled lock file, is taken over.', (t) => {
  const store = openStore();
  fs.mkdirSync(store.jobDir('job'));
  const lockFile = path.join(store.jobDir('job'), 'lock');
  for (const content of [`${deadPid()} ${os.hostname()}\n`, '', 'garbage', '0 ' + os.hostname()]) {
    fs.writeFileSync(lockFile, content);
    const release = store.lock('job');
    t.is(fs.readFileSync(lockFile, 'utf8'), `${process.pid} ${os.hostname()}\n`, JSON.stringify(content));
    release();
  }
});

test('A lock held by another live process, or by another host, is refused.', (t) => {
  const store = openStore();
  fs.mkdirSync(store.jobDir('job'));
  const lockFile = path.join(store.jobDir('job'), 'lock');
  fs.writeFileSync(lockFile, `${process.ppid} ${os.hostname()}\n`);
  let err = t.throws<StoreLockedError>(() => store.lock('job'), { instanceOf: StoreLockedError });
  t.is(err.code, 'CR_STORE_LOCKED');
  t.regex(err.message, new RegExp(`process ${process.ppid}`));
  fs.writeFileSync(lockFile, `1234 not-${os.hostname()}\n`);
  err = t.throws<StoreLockedError>(() => store.lock('job'), { instanceOf: StoreLockedError });
  t.is(err.code, 'CR_STORE_LOCKED');
  t.regex(err.message, /locked by host not-/);
  t.is(fs.readFileSync(lockFile, 'utf8'), `1234 not-${os.hostname()}\n`, 'a refused lock is left as it was');
});

test('Releasing a lock that another process has taken over leaves its lock in place.', (t) => {
  const store = openStore();
  const release = store.lock('job');
  const lockFile = path.join(store.jobDir('job'), 'lock');
  fs.writeFileSync(lockFile, `${process.ppid} ${os.hostname()}\n`);
  release();
  t.is(fs.readFileSync(lockFile, 'utf8'), `${process.ppid} ${os.hostname()}\n`);
});

// --- job names -------------------------------------------------------------------------------

const INVALID_NAMES = ['../x', '..', '.', '', '.hidden', 'a'.repeat(200), 'a'.repeat(129), 'a/b', 'a\\b', '/abs', 'x\n', 'a b', '-x', '_x', 'é', 'a\0b', '~'];

test('Invalid job names are refused with TypeError by every method that takes one.', async (t) => {
  const parent = tmp.dir('iso');
  const store = openStore({ dir: path.join(parent, 'store') });
  for (const name of INVALID_NAMES) {
    const what = JSON.stringify(name);
    const calls: [string, () => unknown][] = [
      ['jobDir', () => store.jobDir(name)],
      ['list', () => store.list(name)],
      ['nextSequence', () => store.nextSequence(name)],
      ['imageFile', () => store.imageFile(name, 1)],
      ['latest', () => store.latest(name, codec)],
      ['removeStaleTemps', () => store.removeStaleTemps(name)],
      ['lock', () => store.lock(name)],
    ];
    for (const [method, call] of calls) {
      const err = t.throws(call, { instanceOf: TypeError }, `${method}(${what})`);
      t.regex(err.message, /job name .* is not valid/);
    }
    await t.throwsAsync(store.commit(name, 1, async () => undefined), { instanceOf: TypeError }, `commit(${what})`);
  }
  t.deepEqual(fs.readdirSync(store.dir), ['.key'], 'nothing was created for an invalid name');
  t.deepEqual(fs.readdirSync(parent), ['store'], 'nothing was created beside the store');
});

test('A valid job name always names a directory directly inside the store.', (t) => {
  const store = openStore();
  const alphabet = 'abcXYZ019._-';
  const names = ['a', '0', 'A.b-c_d', 'a..', 'a..b', 'x.crimg', 'lock', 'a'.repeat(128), 'a-..-..'];
  let seed = 7;
  for (let i = 0; i < 300; i++) {
    let name = 'abc019'[i % 6]!;
    const length = i % 40;
    for (let k = 0; k < length; k++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      name += alphabet[seed % alphabet.length];
    }
    names.push(name);
  }
  for (const name of names) {
    const dir = store.jobDir(name);
    t.is(path.dirname(dir), store.dir, name);
    t.is(path.basename(dir), name, name);
    t.is(path.relative(store.dir, dir), name, name);
    t.is(path.dirname(store.imageFile(name, 1)), dir, name);
  }
});

// The store keeps its key at <store>/.key and job directories at <store>/<job>; a job name cannot
// start with a dot, so no job, not even one named "key", can collide with the key file.
test('A job named "key" can commit and list images without touching the store\'s key file.', async (t) => {
  const store = openStore();
  const key = fs.readFileSync(path.join(store.dir, '.key'));
  await commitImage(store, 'key', 1);
  t.deepEqual(store.list('key').map((e) => e.sequence), [1]);
  t.true(fs.readFileSync(path.join(store.dir, '.key')).equals(key));
});
