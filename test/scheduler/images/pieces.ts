// The pieces digest of a whole buffer, written out here from its definition (digest.ts): the
// sha256 of the sha256s of its 8 MiB pieces, "-", how many pieces. The tests check the store's
// incremental, two-threaded digest against it.
import { createHash } from 'node:crypto';

export const PIECE = 8 << 20;

export function piecesDigest(bytes: Buffer): string {
  const top = createHash('sha256');
  let pieces = 0;
  for (let at = 0; at < bytes.length; at += PIECE, pieces++) top.update(createHash('sha256').update(bytes.subarray(at, at + PIECE)).digest());
  return `${top.digest('hex')}-${pieces}`;
}

export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
