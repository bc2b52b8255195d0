// The mutation fuzzer's operators: each takes the corpus and a seeded Rng and returns one case,
// the files of a job directory (the target image and the images it may share blocks with) as
// someone without the store's key could leave them: flipped bits, cut files, spliced blocks,
// lying footers, blocks or manifests of other images, missing or swapped bases.
import { FOOTER_LENGTH, FOOTER_MAGIC, HEADER_LENGTH, MAX_MANIFEST_LENGTH, type Manifest } from '../../src/image/format.js';
import { imageTag } from '../../src/image/writer.js';
import type { BlockCodec } from '../../src/codec/index.js';
import { attackerKey, type Corpus, type Image, type Rng } from './fuzz-corpus.js';
import fs from 'node:fs';
import path from 'node:path';

export interface Case {
  /** What was done, for the failure message. */
  what: string;
  /** File name in the job directory → bytes. */
  files: Map<string, Buffer>;
  /** The file read, and what the reader is told to expect. */
  target: string;
  expect: { job: string; sequence: number };
  /** When the case must be refused, with this code (a file signed with another key, of another job...). */
  mustRefuse?: string;
}

export const fileName = (sequence: number): string => `${String(sequence).padStart(8, '0')}.crimg`;

export interface Parts {
  bytes: Buffer;
  manifestOffset: number;
  manifestBytes: Buffer;
  footer: Buffer;
  manifest: Manifest;
}

export function partsOf(bytes: Buffer): Parts {
  const footer = bytes.subarray(bytes.length - FOOTER_LENGTH);
  const manifestOffset = Number(footer.readBigUInt64LE(0));
  const manifestBytes = bytes.subarray(manifestOffset, manifestOffset + Number(footer.readBigUInt64LE(8)));
  return { bytes, manifestOffset, manifestBytes, footer, manifest: JSON.parse(manifestBytes.toString('utf8')) as Manifest };
}

/** header ‖ blocks of `parts` ‖ `manifest` ‖ a footer with its hash and a tag under `key`. */
export function withManifest(parts: Parts, manifest: Buffer, key: Buffer, codec: BlockCodec, blocksEnd = parts.manifestOffset): Buffer {
  const head = Buffer.alloc(blocksEnd);
  parts.bytes.copy(head, 0, 0, Math.min(blocksEnd, parts.manifestOffset));
  const footer = Buffer.alloc(FOOTER_LENGTH);
  footer.writeBigUInt64LE(BigInt(blocksEnd), 0);
  footer.writeBigUInt64LE(BigInt(manifest.length), 8);
  footer.writeBigUInt64LE(codec.hash64(manifest), 16);
  imageTag(key, head.subarray(0, HEADER_LENGTH), footer, manifest).copy(footer, 24);
  FOOTER_MAGIC.copy(footer, 56);
  return Buffer.concat([head, manifest, footer]);
}

/** Offsets where a cut or a change means most: every boundary of the format, and one byte either side. */
export function interestingOffsets(parts: Parts): number[] {
  const size = parts.bytes.length;
  const marks = [0, 1, 7, 8, 12, HEADER_LENGTH, parts.manifestOffset, size - FOOTER_LENGTH, size - FOOTER_LENGTH + 8, size - FOOTER_LENGTH + 16, size - FOOTER_LENGTH + 24, size - 8, size];
  for (const s of parts.manifest.sections) {
    for (const b of s.blocks) if (b.length === 6) marks.push(b[0], b[0] + b[1]);
  }
  const out = new Set<number>();
  for (const m of marks) for (const d of [-1, 0, 1]) if (m + d >= 0 && m + d <= size) out.add(m + d);
  return [...out].sort((a, b) => a - b);
}

/** Values that break naive length arithmetic: 0, ±1 around the real value and powers of two, 2^53, 2^63, 2^64 − 1. */
export function hugeValues(real: number, size: number): bigint[] {
  const v = [0n, 1n, 15n, 16n, 17n, BigInt(real) - 1n, BigInt(real) + 1n, BigInt(size), BigInt(size) - 64n, BigInt(size) + 1n];
  v.push(BigInt(MAX_MANIFEST_LENGTH), BigInt(MAX_MANIFEST_LENGTH) + 1n, 2n ** 31n, 2n ** 32n, 2n ** 32n - 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n - BigInt(size));
  return v.filter((x) => x >= 0n && x < 2n ** 64n);
}

/** The genuine files of job "fuzz" up to image `upTo`: an incremental image needs its bases beside it. */
function genuineFiles(corpus: Corpus, upTo: number): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const image of corpus.fuzz) if (image.sequence <= upTo) files.set(fileName(image.sequence), fs.readFileSync(image.file));
  return files;
}

function blocksOf(image: Pick<Image, 'manifest'>): [number, number][] {
  const out: [number, number][] = [];
  for (const s of image.manifest.sections) for (const b of s.blocks) if (b.length === 6 && b[1] > 0) out.push([b[0], b[1]]);
  return out;
}

type Operator = (
  corpus: Corpus,
  rng: Rng,
  target: Image,
  bytes: Buffer,
) => { what: string; bytes: Buffer | null; files?: (files: Map<string, Buffer>) => void; mustRefuse?: string };

/** A byte position, biased towards the parts whose damage is hardest to notice. */
function position(rng: Rng, parts: Parts): number {
  const size = parts.bytes.length;
  switch (rng.int(5)) {
    case 0:
      return rng.int(HEADER_LENGTH);
    case 1:
      return size - FOOTER_LENGTH + rng.int(FOOTER_LENGTH);
    case 2:
      return parts.manifestOffset + rng.int(parts.manifestBytes.length);
    case 3:
      return HEADER_LENGTH + rng.int(parts.manifestOffset - HEADER_LENGTH);
    default:
      return rng.int(size);
  }
}

export const OPERATORS: Record<string, Operator> = {
  'bit flips': (_c, rng, _t, bytes) => {
    const parts = partsOf(bytes);
    const out = Buffer.from(bytes);
    const n = 1 + rng.int(8);
    const at: number[] = [];
    for (let i = 0; i < n; i++) {
      const p = position(rng, parts);
      const bit = rng.int(8);
      out[p]! ^= 1 << bit;
      at.push(p * 8 + bit);
    }
    return { what: `bits ${at.join(',')} flipped`, bytes: out };
  },
  'bytes set': (_c, rng, _t, bytes) => {
    const parts = partsOf(bytes);
    const out = Buffer.from(bytes);
    const at: string[] = [];
    for (let i = 0, n = 1 + rng.int(4); i < n; i++) {
      const p = position(rng, parts);
      const v = rng.pick([0, 0xff, 0x7f, 0x80, 0x22, 0x5c, rng.int(256)]);
      out[p] = v;
      at.push(`${p}=${v}`);
    }
    return { what: `bytes ${at.join(',')} set`, bytes: out };
  },
  truncated: (_c, rng, _t, bytes) => {
    const offsets = interestingOffsets(partsOf(bytes)).filter((o) => o < bytes.length);
    const at = rng.next() < 0.7 ? rng.pick(offsets) : rng.int(bytes.length);
    return { what: `cut at ${at} of ${bytes.length}`, bytes: bytes.subarray(0, at) };
  },
  extended: (c, rng, _t, bytes) => {
    const tail = rng.next() < 0.5 ? Buffer.from(Array.from({ length: 1 + rng.int(200) }, () => rng.int(256))) : fs.readFileSync(rng.pick(c.fuzz).file);
    return { what: `${tail.length} bytes appended`, bytes: Buffer.concat([bytes, tail]) };
  },
  'bytes inserted or removed': (_c, rng, _t, bytes) => {
    const at = HEADER_LENGTH + rng.int(bytes.length - HEADER_LENGTH);
    const n = 1 + rng.int(64);
    if (rng.next() < 0.5) return { what: `${n} bytes removed at ${at}`, bytes: Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + n))]) };
    return { what: `${n} bytes inserted at ${at}`, bytes: Buffer.concat([bytes.subarray(0, at), Buffer.alloc(n, rng.int(256)), bytes.subarray(at)]) };
  },
  'huge footer lengths': (_c, rng, _t, bytes) => {
    const parts = partsOf(bytes);
    const out = Buffer.from(bytes);
    const field = rng.pick([0, 8]);
    const real = field === 0 ? parts.manifestOffset : parts.manifestBytes.length;
    const value = rng.pick(hugeValues(real, bytes.length));
    out.writeBigUInt64LE(value, bytes.length - FOOTER_LENGTH + field);
    // Sometimes keep the sum right, so that only the split between blocks and manifest lies.
    if (rng.next() < 0.3) {
      const other = BigInt(bytes.length - FOOTER_LENGTH) - value;
      if (other >= 0n) out.writeBigUInt64LE(other, bytes.length - FOOTER_LENGTH + (8 - field));
    }
    return { what: `footer ${field === 0 ? 'manifestOffset' : 'manifestLength'} = ${value}`, bytes: out };
  },
  'block spliced from another image': (c, rng, target, bytes) => {
    const donor = rng.pick([...c.other, c.foreign, ...c.fuzz.filter((i) => i !== target)]);
    const donorBytes = fs.readFileSync(donor.file);
    const mine = blocksOf(target);
    const theirs = blocksOf(donor);
    if (mine.length === 0 || theirs.length === 0) return { what: 'nothing to splice', bytes };
    const [at, length] = rng.pick(mine);
    const [from, theirLength] = rng.next() < 0.5 ? [at, length] : rng.pick(theirs);
    const out = Buffer.from(bytes);
    donorBytes.copy(out, at, from, from + Math.min(length, theirLength));
    return { what: `block at ${at} (+${length}) overwritten with ${donor.job} ${donor.sequence}'s bytes at ${from}`, bytes: out };
  },
  'blocks swapped': (_c, rng, target, bytes) => {
    const mine = blocksOf(target);
    const [a, la] = rng.pick(mine);
    const [b, lb] = rng.pick(mine);
    if (a === b || la !== lb) return { what: 'blocks of unequal length, left as they were', bytes };
    const out = Buffer.from(bytes);
    bytes.copy(out, a, b, b + lb);
    bytes.copy(out, b, a, a + la);
    return { what: `blocks at ${a} and ${b} swapped`, bytes: out };
  },
  'manifest replayed from an older image': (c, rng, target, bytes) => {
    const older = c.fuzz.filter((i) => i.sequence < target.sequence);
    if (older.length === 0) return { what: 'no older image', bytes: fs.readFileSync(c.fuzz[c.fuzz.length - 1]!.file) };
    const old = partsOf(fs.readFileSync(rng.pick(older).file));
    const mine = partsOf(bytes);
    // The older manifest and footer, tag and all, after this image's blocks cut or padded to fit.
    const head = Buffer.alloc(old.manifestOffset);
    mine.bytes.copy(head, 0, 0, Math.min(old.manifestOffset, mine.manifestOffset));
    return {
      what: `manifest and footer of ${old.manifest.id} on the blocks of ${target.sequence}`,
      bytes: Buffer.concat([head, old.manifestBytes, old.footer]),
      mustRefuse: 'CR_IMAGE_CORRUPT',
    };
  },
  'another image in its place': (c, rng, target) => {
    const other = rng.pick([...c.fuzz, ...c.other, c.foreign]);
    const refuse = other === c.foreign ? 'CR_IMAGE_AUTH' : other.job !== 'fuzz' || other.sequence !== target.sequence ? 'CR_IMAGE_CORRUPT' : undefined;
    return { what: `the file of ${other.job} ${other.sequence} (${other === c.foreign ? 'another key' : 'same key'})`, bytes: fs.readFileSync(other.file), mustRefuse: refuse };
  },
  'manifest re-signed without the key': (c, rng, _t, bytes) => {
    const parts = partsOf(bytes);
    const m = JSON.parse(parts.manifestBytes.toString('utf8')) as Record<string, any>;
    const edit = rng.int(4);
    if (edit === 0) m.sections[0].length += 1;
    else if (edit === 1) m.sections[rng.int(m.sections.length)].blocks[0][0] = 16;
    else if (edit === 2) m.meta.evil = true;
    // else: unchanged, so only the key differs
    return {
      what: `manifest edit ${edit}, signed with a key that is not the store's`,
      bytes: withManifest(parts, Buffer.from(JSON.stringify(m)), attackerKey, c.codec),
      mustRefuse: 'CR_IMAGE_AUTH',
    };
  },
  'base missing or swapped': (c, rng, target, bytes) => {
    const bases = target.manifest.bases;
    if (bases.length === 0) return { what: 'a full image: no base', bytes };
    const base = rng.pick(bases);
    const how = rng.int(4);
    const what = ['missing', 'replaced by another image of the job', 'replaced by another job\'s image', 'bit-flipped'][how]!;
    return {
      what: `base ${base} ${what}`,
      bytes,
      // A flipped bit may sit in a block this image does not share; anything else must be refused.
      mustRefuse: how < 2 ? 'CR_IMAGE_CORRUPT' : how === 2 ? 'any' : undefined,
      files: (files) => {
        const name = fileName(base);
        if (how === 0) files.delete(name);
        else if (how === 1) files.set(name, fs.readFileSync(rng.pick(c.fuzz.filter((i) => i.sequence !== base)).file));
        else if (how === 2) files.set(name, fs.readFileSync(rng.pick([...c.other, c.foreign]).file));
        else if (files.has(name)) {
          const b = Buffer.from(files.get(name)!);
          b[HEADER_LENGTH + rng.int(b.length - HEADER_LENGTH)]! ^= 1 << rng.int(8);
          files.set(name, b);
        }
      },
    };
  },
};

/** One case: a random operator (or two in a row) applied to a random image of job "fuzz". */
export function randomCase(corpus: Corpus, rng: Rng): Case {
  const target = rng.pick(corpus.fuzz);
  const names = Object.keys(OPERATORS);
  let bytes: Buffer = fs.readFileSync(target.file);
  const files = genuineFiles(corpus, target.sequence);
  const whats: string[] = [];
  let mustRefuse: string | undefined;
  const rounds = rng.next() < 0.2 ? 2 : 1;
  for (let i = 0; i < rounds; i++) {
    const name = rng.pick(names);
    let result;
    try {
      result = OPERATORS[name]!(corpus, rng, target, bytes);
    } catch {
      // The previous round left something partsOf cannot split: apply a plain bit flip instead.
      result = { what: 'bit flip', bytes: Buffer.from(bytes) };
      if (bytes.length > 0) result.bytes[rng.int(bytes.length)]! ^= 1;
    }
    whats.push(`${name}: ${result.what}`);
    // After two rounds either may be the one refused first: any typed refusal will do.
    // A whole file put in place undoes what the first round did.
    const replaced = name === 'another image in its place';
    mustRefuse = i === 0 || replaced ? result.mustRefuse : result.mustRefuse || mustRefuse ? 'any' : undefined;
    if (result.bytes) bytes = result.bytes;
    result.files?.(files);
  }
  files.set(fileName(target.sequence), bytes);
  return {
    what: `${corpus.codec.name} image ${target.sequence}: ${whats.join('; then ')}`,
    files,
    target: fileName(target.sequence),
    expect: { job: 'fuzz', sequence: target.sequence },
    mustRefuse,
  };
}

/** Writes a case's files into a job directory `fuzz` under `root` (a new directory); returns the target's path. */
export function layOut(root: string, c: Pick<Case, 'files' | 'target'>): { file: string; dir: string } {
  const dir = path.join(root, 'fuzz');
  fs.mkdirSync(dir);
  for (const [name, bytes] of c.files) fs.writeFileSync(path.join(dir, name), bytes);
  return { file: path.join(dir, c.target), dir: root };
}
