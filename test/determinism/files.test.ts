import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { FileMismatchError } from '../../src/errors.js';
import { attempt, tempDir } from '../job/harness.js';

test('an output file is cut back on restart to the length the image recorded, and the job writes on from there', async (t) => {
  const dir = tempDir(t, 'files');
  const out = path.join(dir, 'out.txt');
  const first = await attempt(dir, false);
  const file = first.context.open(out, 'w');
  t.is(file.mode, 'w');
  t.is(file.path, out);
  for (let i = 0; i < 3; i++) file.writeLine(`line ${i}`);
  await first.context.checkpoint({ force: true, durable: true });
  // Written after the image, then the attempt dies (nothing closes the file).
  file.writeLine('line 3');
  file.flush();
  t.is(fs.readFileSync(out, 'utf8'), 'line 0\nline 1\nline 2\nline 3\n');

  const second = await attempt(dir, true);
  const again = second.context.open(out, 'w');
  t.is(again.position, 21);
  t.is(fs.readFileSync(out, 'utf8'), 'line 0\nline 1\nline 2\n');
  again.writeLine('line 3');
  again.write(new Uint8Array([0x61, 0x0a]));
  await second.context.close();
  t.is(fs.readFileSync(out, 'utf8'), 'line 0\nline 1\nline 2\nline 3\na\n');
});

test('the checkpoint writes buffered lines out before it records their length', async (t) => {
  const dir = tempDir(t, 'files');
  const out = path.join(dir, 'out.txt');
  const first = await attempt(dir, false);
  const file = first.context.open(out, 'w');
  file.write('buffered, not yet on disk');
  t.is(fs.statSync(out).size, 0);
  await first.context.checkpoint({ force: true });
  t.is(fs.readFileSync(out, 'utf8'), 'buffered, not yet on disk');
  await first.context.close();
});

test('a large write bypasses the buffer and keeps order with buffered ones', async (t) => {
  const dir = tempDir(t, 'files');
  const out = path.join(dir, 'out.bin');
  const { context } = await attempt(dir, false);
  const file = context.open(out, 'w');
  const big = new Uint8Array(200_000).map((_, i) => i & 0xff);
  file.write('head');
  file.write(big);
  file.write('tail');
  t.is(file.position, 4 + big.length + 4);
  await context.close();
  const bytes = fs.readFileSync(out);
  t.is(bytes.toString('latin1', 0, 4), 'head');
  t.deepEqual(new Uint8Array(bytes.subarray(4, 4 + big.length)), big);
  t.is(bytes.toString('latin1', 4 + big.length), 'tail');
});

test('an input file reads on after a restart from the position the image recorded', async (t) => {
  const dir = tempDir(t, 'files');
  const input = path.join(dir, 'in.txt');
  const lines = Array.from({ length: 5000 }, (_, i) => `row ${i} ${'x'.repeat(i % 50)}`);
  fs.writeFileSync(input, lines.join('\r\n') + '\r\n');
  const first = await attempt(dir, false);
  const file = first.context.open(input); // 'r' by default
  const read: string[] = [];
  for (let i = 0; i < 2500; i++) read.push(file.readLine()!);
  await first.context.checkpoint({ force: true, durable: true });
  for (let i = 0; i < 100; i++) file.readLine(); // lost with the attempt
  await first.context.close();

  const second = await attempt(dir, true);
  const again = second.context.open(input, 'r');
  for (let line = again.readLine(); line !== null; line = again.readLine()) read.push(line);
  t.deepEqual(read, lines);
  t.is(again.readLine(), null);
  t.deepEqual(second.warnings, []);
  await second.context.close();
});

test('read() fills a buffer and a last line without a newline is returned', async (t) => {
  const dir = tempDir(t, 'files');
  const input = path.join(dir, 'in.txt');
  fs.writeFileSync(input, 'abcdef\nlast');
  const { context } = await attempt(dir, false);
  const file = context.open(input, 'r');
  const head = new Uint8Array(3);
  t.is(file.read(head), 3);
  t.is(Buffer.from(head).toString(), 'abc');
  t.is(file.readLine(), 'def');
  t.is(file.readLine(), 'last');
  t.is(file.readLine(), null);
  t.is(file.read(head), 0);
  t.is(file.position, 11);
  await context.close();
});

test('a line longer than the read buffer is read whole', async (t) => {
  const dir = tempDir(t, 'files');
  const input = path.join(dir, 'in.txt');
  const long = 'y'.repeat(300_000);
  fs.writeFileSync(input, `short\n${long}\nend\n`);
  const { context } = await attempt(dir, false);
  const file = context.open(input);
  t.deepEqual([file.readLine(), file.readLine(), file.readLine(), file.readLine()], ['short', long, 'end', null]);
  await context.close();
});

test('an append file keeps what was there and, after a restart, what it held at the image', async (t) => {
  const dir = tempDir(t, 'files');
  const log = path.join(dir, 'log.txt');
  fs.writeFileSync(log, 'before the job\n');
  const first = await attempt(dir, false);
  const file = first.context.open(log, 'a');
  t.is(file.position, 15);
  file.writeLine('one');
  await first.context.checkpoint({ force: true, durable: true });
  file.writeLine('two (lost)');
  await first.context.close();
  const second = await attempt(dir, true);
  second.context.open(log, 'a').writeLine('two');
  await second.context.close();
  t.is(fs.readFileSync(log, 'utf8'), 'before the job\none\ntwo\n');
});

test('a "w" file closed before the image is written anew when the restarted job opens it again', async (t) => {
  const dir = tempDir(t, 'files');
  const out = path.join(dir, 'phase.txt');
  const first = await attempt(dir, false);
  const file = first.context.open(out, 'w');
  file.writeLine('phase 1');
  file.close();
  file.close(); // idempotent
  await first.context.checkpoint({ force: true, durable: true });
  await first.context.close();
  const second = await attempt(dir, true);
  second.context.open(out, 'w').writeLine('phase 2');
  await second.context.close();
  t.is(fs.readFileSync(out, 'utf8'), 'phase 2\n');
});

test('a file shorter than its image recorded fails the restart with FileMismatchError', async (t) => {
  const dir = tempDir(t, 'files');
  const out = path.join(dir, 'out.txt');
  const input = path.join(dir, 'in.txt');
  fs.writeFileSync(input, 'a\nb\nc\n');
  const first = await attempt(dir, false);
  first.context.open(out, 'w').writeLine('0123456789');
  const reader = first.context.open(input);
  reader.readLine();
  reader.readLine();
  await first.context.checkpoint({ force: true, durable: true });
  await first.context.close();
  fs.truncateSync(out, 3);
  fs.writeFileSync(input, 'a\n');

  const second = await attempt(dir, true);
  const outError = t.throws(() => second.context.open(out, 'w'), { instanceOf: FileMismatchError });
  t.is(outError?.code, 'CR_FILE_MISMATCH');
  t.regex(outError!.message, /output file .*out\.txt has 3 bytes, but image job-00000001 recorded 11: it was changed outside the job/);
  t.is(fs.statSync(out).size, 3, 'the file is left as it was');
  const inError = t.throws(() => second.context.open(input), { instanceOf: FileMismatchError });
  t.regex(inError!.message, /input file .*in\.txt has 2 bytes, but image job-00000001 had read it to byte 4/);
  await second.context.close();
});

test('misuse of open and of a file is refused with TypeError naming the argument', async (t) => {
  const dir = tempDir(t, 'files');
  const out = path.join(dir, 'out.txt');
  const { context } = await attempt(dir, false);
  t.throws(() => context.open('', 'w'), { instanceOf: TypeError, message: /path must be a non-empty string/ });
  t.throws(() => context.open(out, 'x' as 'w'), { instanceOf: TypeError, message: /mode must be 'r', 'w' or 'a', got "x"/ });
  const file = context.open(out, 'w');
  t.throws(() => context.open(out, 'a'), { instanceOf: TypeError, message: /is already open in this job/ });
  t.throws(() => file.readLine(), { instanceOf: TypeError, message: /was opened for writing/ });
  t.throws(() => file.write(42 as unknown as string), { instanceOf: TypeError, message: /data must be a string or a typed array/ });
  t.throws(() => context.open(path.join(dir, 'missing.txt'), 'r'), { code: 'ENOENT' });
  const input = context.open(path.join(dir, 'in.txt'), 'w');
  input.close();
  const reader = context.open(input.path, 'r');
  t.throws(() => reader.write('x'), { instanceOf: TypeError, message: /was opened for reading/ });
  file.close();
  t.throws(() => file.write('x'), { instanceOf: TypeError, message: /is closed/ });
  await context.close();
  t.throws(() => context.open(out, 'w'), { instanceOf: TypeError, message: /cr\.open\(\) was called after the job ended/ });
});
