// The shared image store in a directory: atomic, immutable objects, and what a full disk, a
// missing object or a second write of the same name does.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { tempDir } from '../../runner/helpers.js';
import { DirectoryStore } from '../../../scheduler/images/directory.js';
import { objectName, SharedStoreError } from '../../../scheduler/images/store.js';
import { piecesDigest, sha } from './pieces.js';

function fileOf(t: Parameters<typeof tempDir>[0], bytes: Buffer): string {
  const file = path.join(tempDir(t, 'image-src'), 'image.crimg');
  fs.writeFileSync(file, bytes);
  return file;
}


test('An image put in a directory store is read back whole, by range and by size, and leaves no temp file.', async (t) => {
  const dir = tempDir(t, 'dir-store');
  const store = DirectoryStore.open(dir, { create: true });
  const bytes = randomBytes((9 << 20) + 123);
  const name = objectName(7, 3, 2);
  t.deepEqual(await store.put(name, fileOf(t, bytes)), { bytes: bytes.length, sha256: piecesDigest(bytes) });
  t.deepEqual(fs.readdirSync(path.join(dir, 'job-7')), ['00000003-a2.crimg']);
  t.is(fs.statSync(path.join(dir, name)).mode & 0o777, 0o600);
  t.is(await store.size(name), bytes.length);
  t.deepEqual(await store.read(name, bytes.length - 100, 100), bytes.subarray(bytes.length - 100));
  const out = path.join(tempDir(t, 'fetch'), 'x', 'image.crimg');
  t.deepEqual(await store.fetch(name, out, 'pieces'), { bytes: bytes.length, sha256: piecesDigest(bytes) });
  t.true(fs.readFileSync(out).equals(bytes));
  t.deepEqual(fs.readdirSync(path.dirname(out)), ['image.crimg']);
  // An image an older agent recorded with its whole sha256 is checked with that.
  t.deepEqual(await store.fetch(name, `${out}.old`, 'sha256'), { bytes: bytes.length, sha256: sha(bytes) });
});

test('An object is never replaced: the same bytes again are a retry, other bytes are refused with CR_IMAGE_STORE_EXISTS and change nothing.', async (t) => {
  const dir = tempDir(t, 'dir-store');
  const store = DirectoryStore.open(dir, { create: true });
  const name = objectName(1, 1, 1);
  const first = randomBytes(1 << 20);
  await store.put(name, fileOf(t, first));
  t.deepEqual(await store.put(name, fileOf(t, first)), { bytes: first.length, sha256: piecesDigest(first) });
  const err = await t.throwsAsync(store.put(name, fileOf(t, randomBytes(1 << 20))), { instanceOf: SharedStoreError });
  t.is(err?.code, 'CR_IMAGE_STORE_EXISTS');
  t.true(fs.readFileSync(path.join(dir, name)).equals(first));
  t.deepEqual(fs.readdirSync(path.join(dir, 'job-1')), ['00000001-a1.crimg'], 'no temp file left');
});

test('A missing object is CR_IMAGE_STORE_MISSING to fetch and read, and has no size.', async (t) => {
  const store = DirectoryStore.open(tempDir(t, 'dir-store'), { create: true });
  const name = objectName(2, 5, 1);
  t.is(await store.size(name), null);
  const out = path.join(tempDir(t, 'fetch'), 'image.crimg');
  t.is((await t.throwsAsync(store.fetch(name, out, 'pieces'), { instanceOf: SharedStoreError }))?.code, 'CR_IMAGE_STORE_MISSING');
  t.is((await t.throwsAsync(store.read(name, 0, 10), { instanceOf: SharedStoreError }))?.code, 'CR_IMAGE_STORE_MISSING');
  t.false(fs.existsSync(out));
});

test("A missing file where the store's marker is not (the shared file system not mounted on this node) is the store's failure, never a missing image.", async (t) => {
  const dir = tempDir(t, 'dir-store');
  const store = DirectoryStore.open(dir, { create: true });
  await store.put(objectName(2, 1, 1), fileOf(t, randomBytes(100)));
  // As an agent sees an empty mount point.
  const unmounted = DirectoryStore.open(tempDir(t, 'mount-point'));
  const err = await t.throwsAsync(unmounted.fetch(objectName(2, 1, 1), path.join(tempDir(t, 'fetch'), 'image.crimg'), 'pieces'), { instanceOf: SharedStoreError });
  t.is(err?.code, 'CR_IMAGE_STORE_FAILED');
  t.regex(err!.message, /holds no \.cr-image-store: .*mounted on this node/);
  t.is((await t.throwsAsync(unmounted.read(objectName(2, 1, 1), 0, 1), { instanceOf: SharedStoreError }))?.code, 'CR_IMAGE_STORE_FAILED');
});

/** Why a small tmpfs cannot be mounted here (a full disk to write to), or null when it can. */
function tmpfsProblem(): string | null {
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-tmpfs-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `a small tmpfs cannot be mounted here, which needs root: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    fs.rmSync(probe, { recursive: true, force: true });
  }
}

const FULL_TITLE = 'A directory store that fills up in the middle of a put fails it with CR_IMAGE_STORE_FAILED, keeps no object and no temp file, and takes the next put once there is room.';
const noTmpfs = tmpfsProblem();
(noTmpfs === null ? test : test.skip)(noTmpfs === null ? FULL_TITLE : `${FULL_TITLE} [skipped: ${noTmpfs}]`, async (t) => {
  const dir = tempDir(t, 'dir-store-full');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { stdio: 'pipe' });
  t.teardown(() => execFileSync('umount', [dir]));
  const store = DirectoryStore.open(dir, { create: true });
  const name = objectName(3, 1, 1);
  const err = await t.throwsAsync(store.put(name, fileOf(t, randomBytes(4 << 20))), { instanceOf: SharedStoreError });
  t.is(err?.code, 'CR_IMAGE_STORE_FAILED');
  t.regex(err!.message, /ENOSPC|no space/i);
  t.deepEqual(fs.readdirSync(path.join(dir, 'job-3')), [], 'no object, no temp file');
  const small = randomBytes(1 << 20);
  await store.put(name, fileOf(t, small));
  t.true(fs.readFileSync(path.join(dir, name)).equals(small));
});

test('Removing objects and a whole job: what is gone is not an error; a job\'s objects go with their directory.', async (t) => {
  const dir = tempDir(t, 'dir-store');
  const store = DirectoryStore.open(dir, { create: true });
  const file = fileOf(t, randomBytes(1000));
  for (const seq of [1, 2, 3]) await store.put(objectName(4, seq, 1), file);
  await store.remove([objectName(4, 1, 1), objectName(4, 9, 1)]);
  t.deepEqual(fs.readdirSync(path.join(dir, 'job-4')).sort(), ['00000002-a1.crimg', '00000003-a1.crimg']);
  await store.removeAll('job-4/');
  t.false(fs.existsSync(path.join(dir, 'job-4')));
  await store.removeAll('job-4/');
});

test('A directory store that does not exist is refused with CR_IMAGE_STORE_LOCATION, naming what to do.', (t) => {
  const err = t.throws(() => DirectoryStore.open(path.join(tempDir(t, 'none'), 'missing')), { instanceOf: SharedStoreError });
  t.is(err?.code, 'CR_IMAGE_STORE_LOCATION');
  t.regex(err!.message, /create the directory/);
});
