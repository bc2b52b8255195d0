// LocalStore reads only what is its own: entries under an image's name that are not regular
// files, or whose number is not one it writes, are passed over with one warning each; retention
// keeps whatever it cannot prove unneeded and reports what it could not delete.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { BlockCodec } from '../../src/codec/index.js';
import { ImageCorruptError } from '../../src/errors.js';
import { planImage } from '../../src/image/plan.js';
import { readBasesUnverified } from '../../src/image/manifest-reader.js';
import { LocalStore, type LocalStoreOptions } from '../../src/store/local-store.js';
import { KiB, codecs, header, makeWriter, smallInputs, tempRoot } from '../image/helpers.js';

const tmp = tempRoot('store-entries');
test.after.always(() => tmp.cleanup());

let codec: BlockCodec;
test.before(async () => {
  codec = (await codecs()).main;
});

function openStore(warnings: string[], options: Partial<LocalStoreOptions> = {}): LocalStore {
  return LocalStore.open({ dir: tmp.dir('store'), keepImages: 10, warn: (m) => warnings.push(m), ...options });
}

/** Commits image `sequence`; with `after`, an incremental image sharing every block with it. */
async function commitImage(store: LocalStore, job: string, sequence: number, after: number | null = null) {
  const writer = makeWriter({ codec, key: store.key, blockSize: 4 * KiB });
  const previous = after === null ? null : store.openImage(store.imageFile(job, after), codec).manifest;
  const inputs = smallInputs(1);
  const plan = previous === null ? null : planImage(inputs, { previous, blockSize: writer.blockSize });
  const { file, result } = await store.commit(job, sequence, (handle) => writer.write(handle, header(job, sequence), inputs, plan));
  return { file, manifest: result.manifest };
}

function mkfifo(file: string): void {
  execFileSync('mkfifo', [file]);
}

test('A FIFO named as an image is passed over with one warning, without blocking: the older image is restored and its number stays taken.', async (t) => {
  const warnings: string[] = [];
  const store = openStore(warnings);
  await commitImage(store, 'job', 6);
  const fifo = path.join(store.jobDir('job'), '00000007.crimg');
  mkfifo(fifo);
  t.deepEqual(store.list('job').map((e) => e.sequence), [6]);
  const latest = store.latest('job', codec)!;
  latest.reader.close();
  t.is(latest.entry.sequence, 6);
  t.is(store.nextSequence('job'), 8, 'a commit never collides with the FIFO');
  t.is(warnings.length, 1, warnings.join('\n'));
  t.is(warnings[0], `passed over ${fifo}: it is a FIFO, not an image file`);
  await commitImage(store, 'job', store.nextSequence('job'));
  t.deepEqual(store.list('job').map((e) => e.sequence), [6, 8]);
  t.is(warnings.length, 1, 'each entry is named once');
});

test('Opening a FIFO as an image fails at once with ImageCorruptError, as does reading its bases.', (t) => {
  const dir = tmp.dir('fifo');
  const fifo = path.join(dir, '00000001.crimg');
  mkfifo(fifo);
  const store = LocalStore.open({ dir: tmp.dir('store') });
  const err = t.throws(() => store.openImage(fifo, codec), { instanceOf: ImageCorruptError });
  t.is(err?.code, 'CR_IMAGE_CORRUPT');
  t.is(err?.reason, 'not-a-file');
  t.throws(() => readBasesUnverified(fifo), { instanceOf: ImageCorruptError, code: 'CR_IMAGE_CORRUPT' });
});

test('A directory, a symbolic link, and names with a number beyond 2^53 − 1 or extra leading zeros are passed over; commits go on.', async (t) => {
  const warnings: string[] = [];
  const store = openStore(warnings);
  const { file: six } = await commitImage(store, 'job', 6);
  const dir = store.jobDir('job');
  fs.mkdirSync(path.join(dir, '00000007.crimg'));
  // A link to a valid image of this job: still not the store's own file.
  fs.symlinkSync(six, path.join(dir, '00000009.crimg'));
  // Regular files, with names this store never writes.
  fs.copyFileSync(six, path.join(dir, '9007199254740993.crimg'));
  fs.copyFileSync(six, path.join(dir, '000000005.crimg'));
  t.deepEqual(store.list('job').map((e) => e.sequence), [6]);
  t.is(store.nextSequence('job'), 10, 'numbers held by other entries stay taken');
  const latest = store.latest('job', codec)!;
  latest.reader.close();
  t.is(latest.entry.sequence, 6);
  await commitImage(store, 'job', store.nextSequence('job'));
  t.deepEqual(store.list('job').map((e) => e.sequence), [6, 10]);
  t.is(warnings.length, 4, warnings.join('\n'));
  t.true(warnings.includes(`passed over ${path.join(dir, '00000007.crimg')}: it is a directory, not an image file`));
  t.true(warnings.includes(`passed over ${path.join(dir, '00000009.crimg')}: it is a symbolic link, not an image file`));
  for (const name of ['9007199254740993.crimg', '000000005.crimg']) {
    t.true(warnings.some((w) => w.startsWith(`passed over ${path.join(dir, name)}: its name is not an image name this store writes`)), name);
  }
  // Retention leaves what is not its own alone.
  const one = LocalStore.open({ dir: store.dir, keepImages: 1, warn: () => undefined });
  await one.prune('job');
  t.true(fs.statSync(path.join(dir, '00000007.crimg')).isDirectory());
  t.true(fs.lstatSync(path.join(dir, '00000009.crimg')).isSymbolicLink());
  t.true(fs.existsSync(path.join(dir, '9007199254740993.crimg')));
});

test('Retention keeps the base of a kept incremental image.', async (t) => {
  const store = openStore([], { keepImages: 2 });
  await commitImage(store, 'job', 1);
  const { manifest } = await commitImage(store, 'job', 2, 1);
  t.deepEqual(manifest.bases, [1], 'image 2 shares blocks with image 1');
  await commitImage(store, 'job', 3);
  t.deepEqual(store.list('job').map((e) => e.sequence), [1, 2, 3]);
  await commitImage(store, 'job', 4);
  t.deepEqual(store.list('job').map((e) => e.sequence), [3, 4]);
});

test('Retention remembers the bases a kept image names, and reads them again when another file takes its name.', async (t) => {
  const store = openStore([], { keepImages: 2 });
  await commitImage(store, 'job', 1);
  const { file: two } = await commitImage(store, 'job', 2, 1);
  const { file: three } = await commitImage(store, 'job', 3);
  t.deepEqual(store.list('job').map((e) => e.sequence), [1, 2, 3], 'image 2 needs image 1');
  // Image 2 is replaced by a full image (no bases): image 1 is needed no more.
  const replacement = `${two}.new`;
  fs.copyFileSync(three, replacement);
  fs.renameSync(replacement, two);
  t.deepEqual(readBasesUnverified(two), []);
  const removed = await store.prune('job');
  t.deepEqual(removed.map((e) => e.sequence), [1]);
  t.deepEqual(store.list('job').map((e) => e.sequence), [2, 3]);
});

test('When a kept image does not say which bases it needs, every older image is kept, and a warning says why.', async (t) => {
  const warnings: string[] = [];
  const store = openStore(warnings, { keepImages: 2 });
  await commitImage(store, 'job', 1);
  const { file: two } = await commitImage(store, 'job', 2, 1);
  await commitImage(store, 'job', 3);
  // Image 2's footer cannot be read back (as a read error would leave it): which bases it needs is unknown.
  const bytes = fs.readFileSync(two);
  bytes[bytes.length - 1]! ^= 0xff;
  fs.writeFileSync(two, bytes);
  t.throws(() => readBasesUnverified(two), { instanceOf: ImageCorruptError });
  const removed = await store.prune('job');
  t.deepEqual(removed, []);
  t.deepEqual(store.list('job').map((e) => e.sequence), [1, 2, 3], 'image 1, maybe a base of image 2, is kept');
  t.is(warnings.length, 1, warnings.join('\n'));
  t.regex(warnings[0]!, /^kept the images of "job" older than 00000002\.crimg: which of them it needs could not be read \(/);
});

/** Whether this user can make a file here immutable (root, on ext4, xfs or btrfs; not tmpfs). */
function canMakeImmutable(): boolean {
  const probe = path.join(tmp.dir('probe'), 'file');
  fs.writeFileSync(probe, '');
  if (spawnSync('chattr', ['+i', probe]).status !== 0) return false;
  spawnSync('chattr', ['-i', probe]);
  return true;
}
const immutable = canMakeImmutable();
if (!immutable) console.log('skipping the unlink-failure test: chattr +i does not work here (not root, or tmpfs)');

(immutable ? test : test.skip)('An image retention cannot delete is reported, not dropped; it goes once it can.', async (t) => {
  const warnings: string[] = [];
  const store = openStore(warnings, { keepImages: 1 });
  const { file: one } = await commitImage(store, 'job', 1);
  // An immutable file: even root cannot unlink it.
  execFileSync('chattr', ['+i', one]);
  t.teardown(() => spawnSync('chattr', ['-i', one]));
  await commitImage(store, 'job', 2);
  t.deepEqual(store.list('job').map((e) => e.sequence), [1, 2]);
  t.is(warnings.length, 1, warnings.join('\n'));
  t.is(warnings[0], `could not delete ${one}, an image retention no longer needs: EPERM`);
  spawnSync('chattr', ['-i', one]);
  await commitImage(store, 'job', 3);
  t.deepEqual(store.list('job').map((e) => e.sequence), [3]);
});

test('A FIFO planted as the job\'s lock file is taken over without blocking.', (t) => {
  const store = openStore([]);
  fs.mkdirSync(store.jobDir('job'), { recursive: true });
  const lock = path.join(store.jobDir('job'), 'lock');
  mkfifo(lock);
  const unlock = store.lock('job');
  t.true(fs.lstatSync(lock).isFile(), 'the lock is ours now');
  unlock();
  t.false(fs.existsSync(lock));
});
