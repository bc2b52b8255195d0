// The digest an image is recorded with, which every copy of it must match. Two kinds, told apart
// by their text:
// - "pieces" (`<hex>-<n>`): the sha256 of the sha256s of the image's n pieces of PIECE_BYTES (the
//   last one shorter), as S3 writes a multipart object's composite checksum. Pieces hash on two
//   threads at once, where one sha256 of the whole image runs on one, slower than a fast disk
//   writes. Images written to a shared store are recorded with it.
// - "sha256" (64 hex digits): the sha256 of the whole image. Images uploaded over gRPC, and
//   images that schedulers before the pieces digest recorded, are; they are checked with it.
import { createHash, webcrypto, type Hash } from 'node:crypto';
import fs from 'node:fs';

export const PIECE_BYTES = 8 << 20;

export type DigestKind = 'pieces' | 'sha256';

const PIECES = /^[0-9a-f]{64}-[0-9]+$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** Which kind of digest `recorded` is; null when it is neither. */
export function digestKind(recorded: string): DigestKind | null {
  if (PIECES.test(recorded)) return 'pieces';
  if (SHA256.test(recorded)) return 'sha256';
  return null;
}

/**
 * A digest of bytes that arrive in order. `add` resolves once the digest is done with `chunk`
 * (the caller may then reuse its memory). A chunk that is one whole piece is hashed on libuv's
 * threads, where two pieces hash at once; other chunks here, as they come.
 */
export class ImageDigest {
  readonly #kind: DigestKind;
  readonly #whole: Hash | null;
  readonly #pieces: Promise<Uint8Array>[] = [];
  /** The piece being hashed here, and how many of its bytes it has. */
  #open: Hash | null = null;
  #openBytes = 0;
  #bytes = 0;

  constructor(kind: DigestKind) {
    this.#kind = kind;
    this.#whole = kind === 'sha256' ? createHash('sha256') : null;
  }

  get bytes(): number {
    return this.#bytes;
  }

  add(chunk: Uint8Array): Promise<void> {
    this.#bytes += chunk.length;
    if (this.#whole !== null) {
      this.#whole.update(chunk);
      return Promise.resolve();
    }
    if (this.#open === null && chunk.length === PIECE_BYTES) {
      const piece = webcrypto.subtle.digest('SHA-256', chunk).then((d) => new Uint8Array(d));
      this.#pieces.push(piece);
      return piece.then(() => undefined);
    }
    for (let at = 0; at < chunk.length; ) {
      this.#open ??= createHash('sha256');
      const take = Math.min(chunk.length - at, PIECE_BYTES - this.#openBytes);
      this.#open.update(chunk.subarray(at, at + take));
      this.#openBytes += take;
      at += take;
      if (this.#openBytes === PIECE_BYTES) this.#closePiece();
    }
    return Promise.resolve();
  }

  #closePiece(): void {
    this.#pieces.push(Promise.resolve(new Uint8Array(this.#open!.digest())));
    this.#open = null;
    this.#openBytes = 0;
  }

  async digest(): Promise<string> {
    if (this.#whole !== null) return this.#whole.digest('hex');
    if (this.#open !== null) this.#closePiece();
    const top = createHash('sha256');
    for (const piece of await Promise.all(this.#pieces)) top.update(piece);
    return `${top.digest('hex')}-${this.#pieces.length}`;
  }
}

/** The digest of `file`, of `kind`: for the rare paths (a retried put, a copy kept locally), read as a stream. */
export async function digestFile(file: string, kind: DigestKind): Promise<string> {
  const digest = new ImageDigest(kind);
  for await (const chunk of fs.createReadStream(file, { highWaterMark: PIECE_BYTES })) await digest.add(chunk as Buffer);
  return await digest.digest();
}
