// The addon's copy-on-write (native/src/cow.cc): exact copies while the thread keeps writing, in
// the main thread and in a Worker; exact written-block reports; and no hang when a region is freed,
// the process exits or a Worker is terminated in the middle of a flush (each in a child process
// that is killed after a deadline: the test fails instead of hanging).
import test from 'ava';
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { loadNative, nativeAddonFile } from '../../src/native/binding.js';
import { cowRounds, type CowRoundsOptions, type CowRoundsResult } from './cow-rounds.js';

const { binding } = loadNative();
const support = binding?.cowSupport() ?? { available: false, reason: 'no addon' };
const MiB = 1024 * 1024;
const addonFile = nativeAddonFile();
const cowTest = support.available ? test : test.skip;

test(`copy-on-write is ${support.available ? 'available' : 'unavailable'} here${support.reason ? ` (${support.reason})` : ''}`, (t) => {
  t.true(support.available || typeof support.reason === 'string', 'when it is unavailable, the reason is given');
  // These machines run the tests as root on Linux 6.18: the path must be exercised on every run.
  if (process.getuid?.() === 0 && process.platform === 'linux') t.true(support.available, support.reason ?? '');
});

cowTest('Copies saved by a flush while the thread keeps writing random pages hold exactly the values at the safe point.', (t) => {
  const r = cowRounds(binding!, { rounds: 40, bytes: 16 * MiB + 12345, blockSize: MiB, seed: 7 });
  t.log(r);
  t.is(r.mismatches, 0);
  t.is(r.wrongWritten, 0, 'each capture reports every block written since the previous one, and as written only those');
  t.true(r.flushBlocks > 0);
});

cowTest('The same holds with 64 KiB blocks in a 48 MiB region.', (t) => {
  const r = cowRounds(binding!, { rounds: 12, bytes: 48 * MiB, blockSize: 64 * 1024, seed: 11 });
  t.log(r);
  t.is(r.mismatches, 0);
  t.is(r.wrongWritten, 0);
});

cowTest('The same holds in a worker_threads Worker, while the main thread runs its own rounds.', async (t) => {
  const data: CowRoundsOptions = { rounds: 25, bytes: 16 * MiB, blockSize: MiB, seed: 3 };
  const worker = new Worker(new URL('./cow-worker.js', import.meta.url), { workerData: data });
  const message = new Promise<CowRoundsResult>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const mine = cowRounds(binding!, { ...data, seed: 4 });
  const theirs = await message;
  t.log({ mine, theirs });
  t.is(mine.mismatches + theirs.mismatches, 0);
  t.is(mine.wrongWritten + theirs.wrongWritten, 0);
});

cowTest('Misuse is refused with errors that name the function and argument.', (t) => {
  const ab = binding!.allocRegion(4 * MiB, false);
  const staging = new Uint8Array(new SharedArrayBuffer(4 * MiB));
  const ready = new Int32Array(new SharedArrayBuffer(4));
  const slots = new Float64Array(4).map((_, i) => i * MiB);
  try {
    t.throws(() => binding!.cowFlush(ab, staging, slots, ready), { instanceOf: TypeError, message: /cowFlush: the region is not in copy-on-write mode/ });
    t.throws(() => binding!.cowCapture(ab, 1000, new Uint8Array(4)), { instanceOf: RangeError, message: /cowCapture: blockSize/ });
    t.throws(() => binding!.cowCapture(ab, MiB, new Uint8Array(2)), { instanceOf: RangeError, message: /pending must hold one byte per block/ });
    t.throws(() => binding!.cowCapture(new ArrayBuffer(8), MiB, new Uint8Array(4)), { instanceOf: TypeError, message: /not a live region/ });
    binding!.cowCapture(ab, MiB, new Uint8Array(4));
    t.throws(() => binding!.cowCapture(ab, 512 * 1024, new Uint8Array(8)), { instanceOf: RangeError, message: /blockSize differs/ });
    t.throws(() => binding!.cowFlush(ab, staging.subarray(0, MiB), slots, ready), { instanceOf: RangeError, message: /slots\[1\] does not fit/ });
    t.throws(() => binding!.cowFlush(ab, new Uint8Array(ab), slots, ready), { instanceOf: RangeError, message: /overlaps the region/ });
    t.throws(() => binding!.trackRegion(ab), { message: /EBUSY|cannot track/ }, 'async tracking cannot share the mapping');
    binding!.cowFlush(ab, staging, slots, ready);
    binding!.cowRelease(ab);
    t.is(Atomics.load(ready, 0), 1, 'cowRelease finishes the flush');
    t.is(binding!.cowStats(ab), null);
    new Uint8Array(ab).fill(3); // unprotected: no fault, no hang
  } finally {
    binding!.freeRegion(ab);
  }
});

cowTest('Freeing a region in the middle of a flush finishes the copy first, exactly.', (t) => {
  const ab = binding!.allocRegion(64 * MiB, true);
  const u8 = new Uint8Array(ab);
  for (let i = 0; i < u8.length; i += 4096) u8[i] = (i / 4096) & 0xff;
  const snapshot = u8.slice();
  const staging = new Uint8Array(new SharedArrayBuffer(64 * MiB));
  const ready = new Int32Array(new SharedArrayBuffer(4));
  binding!.cowCapture(ab, MiB, new Uint8Array(64));
  binding!.cowFlush(ab, staging, new Float64Array(64).map((_, i) => i * MiB), ready);
  u8[40 * MiB] = 255;
  binding!.freeRegion(ab);
  t.is(Atomics.load(ready, 0), 1);
  t.is(Buffer.compare(staging, snapshot), 0);
});

/**
 * Runs `script` (CommonJS, with `addon` the addon's path) in a fresh process; kills it after 5
 * minutes, a hang guard only (30 s was once too short for a 256 MiB flush on a loaded machine).
 */
function child(script: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; killed: boolean }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['-e', `const addon = ${JSON.stringify(addonFile)};\n${script}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      proc.kill('SIGKILL');
    }, 300_000);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, killed });
    });
  });
}

/** A region of `mib` MiB, filled, captured and flushing into fresh (slow) staging, in `b`. */
const FLUSHING = `
function flushing(b, mib) {
  const ab = b.allocRegion(mib << 20, true);
  const u8 = new Uint8Array(ab);
  for (let i = 0; i < u8.length; i += 4096) u8[i] = 1;
  const staging = new Uint8Array(new SharedArrayBuffer(mib << 20));
  const ready = new Int32Array(new SharedArrayBuffer(4));
  b.cowCapture(ab, 1 << 20, new Uint8Array(mib));
  b.cowFlush(ab, staging, new Float64Array(mib).map((_, i) => i * (1 << 20)), ready);
  return { ab, u8, ready };
}
`;

cowTest('A process that exits in the middle of a flush, with the job writing, exits by itself.', async (t) => {
  const r = await child(`${FLUSHING}
const b = require(addon);
const { u8, ready } = flushing(b, 256);
for (let i = 0; i < u8.length; i += 4096 * 7) u8[i] = 2;
console.log('flushing', Atomics.load(ready, 0));
process.exit(0);`);
  t.false(r.killed, `the child hung: ${r.out}`);
  t.is(r.code, 0, r.out);
});

cowTest('A Worker terminated in the middle of a flush, while writing its region, terminates; the process then exits.', async (t) => {
  const r = await child(`
const { Worker } = require('node:worker_threads');
const w = new Worker(${JSON.stringify(FLUSHING)} + "const b = require(" + JSON.stringify(addon) + ");" +
  "const { u8 } = flushing(b, 256); require('node:worker_threads').parentPort.postMessage('go');" +
  "for (;;) for (let i = 0; i < u8.length; i += 4096) u8[i]++;", { eval: true });
w.once('message', () => setTimeout(async () => {
  const started = Date.now();
  await w.terminate();
  console.log('terminated in', Date.now() - started, 'ms');
}, 5));
w.once('error', (e) => { console.error(e); process.exit(3); });`);
  t.false(r.killed, `the child hung: ${r.out}`);
  t.is(r.code, 0, r.out);
  t.regex(r.out, /terminated in \d+ ms/);
  t.log(r.out.trim());
});

cowTest('Freeing a region in the middle of a flush in a Worker, then ending the Worker, does not hang.', async (t) => {
  const r = await child(`
const { Worker } = require('node:worker_threads');
const w = new Worker(${JSON.stringify(FLUSHING)} + "const b = require(" + JSON.stringify(addon) + ");" +
  "const { ab, u8, ready } = flushing(b, 128); for (let i = 0; i < u8.length; i += 4096 * 3) u8[i] = 9;" +
  "b.freeRegion(ab); if (Atomics.load(ready, 0) !== 1) throw new Error('not finished');" +
  "const second = flushing(b, 64); second.u8[5] = 1;", { eval: true });
w.on('exit', (code) => console.log('worker exit', code));
w.once('error', (e) => { console.error(e); process.exit(3); });`);
  t.false(r.killed, `the child hung: ${r.out}`);
  t.is(r.code, 0, r.out);
  t.regex(r.out, /worker exit 0/);
});
