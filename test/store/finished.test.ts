// The finished record (src/store/finished.ts): written atomically, read back as written, and
// anything else under its name is refused without blocking.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { codeOfFiles, jobIdentity, sha256Hex } from '../../src/runner/identity.js';
import { FINISHED_FILE, readFinished, writeFinished, type FinishedRecord } from '../../src/store/finished.js';
import { LocalStore } from '../../src/store/local-store.js';

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-finished-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const RECORD: FinishedRecord = {
  job: 'heat2d',
  identity: jobIdentity(codeOfFiles({ 'heat2d.mjs': sha256Hex('code') }), { n: 64 }),
  finishedAt: '2026-12-06T05:00:00.000Z',
  attempts: 2,
  result: { checksum: '1ebf9fe593ac232b', big: '12345678901234567890' },
  image: 8,
};

test('A finished record is read back as written, mode 0600, with no temp file left.', (t) => {
  const dir = tempDir(t);
  t.is(readFinished(dir), null);
  writeFinished(dir, RECORD);
  t.deepEqual(readFinished(dir), RECORD);
  t.is(fs.statSync(path.join(dir, FINISHED_FILE)).mode & 0o777, 0o600);
  writeFinished(dir, { ...RECORD, attempts: 3 });
  t.is(readFinished(dir)?.attempts, 3, 'a new record replaces the old one');
  t.deepEqual(fs.readdirSync(dir), [FINISHED_FILE]);
});

test('A damaged record, or a FIFO, directory or link in its place, is refused without blocking; the store passes it over with a warning.', (t) => {
  const root = tempDir(t);
  const dir = path.join(root, 'heat2d');
  fs.mkdirSync(dir);
  const file = path.join(dir, FINISHED_FILE);
  const cases: [string, () => void, RegExp][] = [
    ['not JSON', () => fs.writeFileSync(file, '{"job":'), /is damaged: it is not JSON/],
    ['no identity', () => fs.writeFileSync(file, JSON.stringify({ ...RECORD, identity: null })), /is damaged: identity is not an object/],
    ['no result', () => fs.writeFileSync(file, JSON.stringify({ ...RECORD, result: undefined })), /is damaged: it holds no result/],
    ['a FIFO', () => execFileSync('mkfifo', [file]), /is not a regular file/],
    ['a directory', () => fs.mkdirSync(file), /is not a regular file/],
    ['a link', () => fs.symlinkSync(path.join(dir, 'elsewhere'), file), /is a symbolic link/],
  ];
  for (const [what, plant, error] of cases) {
    fs.rmSync(file, { recursive: true, force: true });
    plant();
    t.throws(() => readFinished(dir), { message: error }, what);
  }
  const warnings: string[] = [];
  const store = LocalStore.open({ dir: root, warn: (m) => warnings.push(m) });
  t.is(store.readFinished('heat2d'), null);
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /^passed over the finished record of ".+": .+ is a symbolic link/);
});
