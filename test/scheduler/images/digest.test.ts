// The digest an image is recorded with: the pieces digest, however its bytes arrive, and the
// whole sha256 that older records hold.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { tempDir } from '../../runner/helpers.js';
import { digestFile, digestKind, ImageDigest, PIECE_BYTES } from '../../../scheduler/images/digest.js';
import { PIECE, piecesDigest, sha } from './pieces.js';

test('The pieces are 8 MiB, as the definition the tests check against.', (t) => {
  t.is(PIECE_BYTES, PIECE);
});

const sizes = [0, 1, PIECE - 1, PIECE, PIECE + 1, 2 * PIECE + 5, 3 * PIECE];

test('The pieces digest of bytes is the same whether they come as whole pieces, in odd chunks or from a file.', async (t) => {
  const all = randomBytes(3 * PIECE);
  const dir = tempDir(t, 'digest');
  for (const size of sizes) {
    const bytes = all.subarray(0, size);
    const expected = piecesDigest(bytes);
    const whole = new ImageDigest('pieces');
    for (let at = 0; at < size; at += PIECE) await whole.add(bytes.subarray(at, at + PIECE));
    t.is(await whole.digest(), expected, `${size} bytes in pieces`);
    const odd = new ImageDigest('pieces');
    // Chunks that straddle the pieces' edges, and whole pieces that do not start on one.
    const steps = [1000, PIECE, 3 << 20, PIECE - 1000];
    for (let at = 0, i = 0; at < size; i++) {
      const n = Math.min(steps[i % steps.length]!, size - at);
      void odd.add(bytes.subarray(at, at + n));
      at += n;
    }
    t.is(await odd.digest(), expected, `${size} bytes in odd chunks`);
    t.is(odd.bytes, size);
    const file = path.join(dir, `f-${size}`);
    fs.writeFileSync(file, bytes);
    t.is(await digestFile(file, 'pieces'), expected, `a file of ${size} bytes`);
    t.is(await digestFile(file, 'sha256'), sha(bytes), `the whole sha256 of ${size} bytes`);
  }
});

test('A digest tells its kind by its text; anything else is no digest.', (t) => {
  const hex = sha(Buffer.from('x'));
  t.is(digestKind(`${hex}-3`), 'pieces');
  t.is(digestKind(`${hex}-0`), 'pieces');
  t.is(digestKind(hex), 'sha256');
  for (const bad of ['', hex.toUpperCase(), `${hex}-`, `${hex}-x`, `${hex.slice(1)}-1`, `${hex}0`, `../${hex}`]) t.is(digestKind(bad), null, bad);
});
