// Constants and types of image format version 3 (docs/image-format.md), and the strict
// validation of a manifest read from disk. Nothing here does I/O.
import { constants as bufferConstants } from 'node:buffer';
import type { BlockHashKind } from '../codec/types.js';
import { ImageCorruptError } from '../errors.js';

/** The version this cr writes. */
export const FORMAT_VERSION = 3;
/**
 * The oldest version this cr reads: version 2 differs only in hashing blocks with XXH64, and
 * version 1 also in lacking plane-coded blocks.
 */
export const MIN_FORMAT_VERSION = 1;

/** The hash of an image's blocks, by its format: XXH3-64 from format 3, XXH64 before. */
export function blockHashOf(format: number): BlockHashKind {
  return format >= 3 ? 'xxh3' : 'xxh64';
}
export const HEADER_LENGTH = 16;
export const FOOTER_LENGTH = 64;
export const HEADER_MAGIC = Buffer.from([0x43, 0x52, 0x49, 0x4d, 0x47, 0x0d, 0x0a, 0x1a]); // CRIMG\r\n\x1a
export const FOOTER_MAGIC = Buffer.from([0x43, 0x52, 0x45, 0x4e, 0x44, 0x0d, 0x0a, 0x1a]); // CREND\r\n\x1a
/** A manifest larger than this is refused before it is read: bounds what a hostile file can make us allocate. */
export const MAX_MANIFEST_LENGTH = 64 * 1024 * 1024;
/**
 * A state section is decoded into one new Uint8Array, so it can be no longer than the largest
 * one Node makes (4 GiB); a longer one is refused as damage before anything is allocated.
 */
export const MAX_STATE_SECTION_LENGTH = bufferConstants.MAX_LENGTH;
export const MAX_BLOCK_SIZE = 1024 * 1024;
export const MIN_BLOCK_SIZE = 4096;
export const DEFAULT_BLOCK_SIZE = MAX_BLOCK_SIZE;
/** zstd levels an image may record (negative "fast" levels are not used by cr). */
export const MIN_LEVEL = 1;
export const MAX_LEVEL = 22;
/** Block flags, as the manifest stores them and the addon (src/native/binding.ts) writes them. */
export const BLOCK_FLAG_ZSTD = 1;
export const BLOCK_FLAG_SHUFFLE = 2;
/** Format 2: a plane-coded block (docs/image-format.md, "Plane-coded blocks"), never with other bits. */
export const BLOCK_FLAG_PLANES = 4;
export const IMAGE_EXTENSION = '.crimg';
export const JOB_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** The longest section name an image may hold (capture/registration.ts keeps registered names within it). */
export const MAX_SECTION_NAME_LENGTH = 256;

/**
 * [offset, storedLength, rawLength, flags, storedHash (hex), rawHash (hex)], and for a block an
 * incremental image shares with an older image, a 7th element: the sequence of the image whose
 * file holds the stored bytes (offset is then in that file).
 */
export type BlockTuple =
  | [number, number, number, number, string, string]
  | [number, number, number, number, string, string, number];

/** A block by name: what a BlockTuple holds. Code reads and writes blocks through these two functions. */
export interface BlockRecord {
  offset: number;
  storedLength: number;
  rawLength: number;
  flags: number;
  storedHash: string;
  rawHash: string;
  /** For a block shared with an older image: that image's sequence (its file holds the stored bytes); else null. */
  base: number | null;
}

export function blockRecord(tuple: BlockTuple): BlockRecord {
  const [offset, storedLength, rawLength, flags, storedHash, rawHash, base] = tuple;
  return { offset, storedLength, rawLength, flags, storedHash, rawHash, base: base ?? null };
}

export function blockTuple(b: BlockRecord): BlockTuple {
  const head: [number, number, number, number, string, string] = [b.offset, b.storedLength, b.rawLength, b.flags, b.storedHash, b.rawHash];
  return b.base === null ? head : [...head, b.base];
}

/**
 * The typed arrays a region may be, by name. Their order is also the image format's type codes of
 * views inside a state (VIEW_TYPES; docs/image-format.md): append only.
 */
export const REGION_TYPES = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as const;
export type RegionTypeName = keyof typeof REGION_TYPES;
export type RegionArray = InstanceType<(typeof REGION_TYPES)[RegionTypeName]>;
export type RegionConstructor = (typeof REGION_TYPES)[RegionTypeName];
/** A view's constructor by its type code in a state's v8 stream: 0 is none, the typed arrays from 1, then DataView. */
export const VIEW_TYPES = [null, ...Object.values(REGION_TYPES), DataView] as const;

interface SectionCommon {
  name: string;
  elementSize: number;
  /** Raw bytes. */
  length: number;
  blocks: BlockTuple[];
}
export interface StateV8Section extends SectionCommon {
  kind: 'state';
  role: 'v8';
}
export interface StateBufferSection extends SectionCommon {
  kind: 'state';
  role: 'buffer';
  index: number;
}
export interface RegionSection extends SectionCommon {
  kind: 'region';
  type: RegionTypeName;
}
export type Section = StateV8Section | StateBufferSection | RegionSection;

export interface Manifest {
  format: number;
  id: string;
  job: string;
  sequence: number;
  /** The image this one was taken after, when it is incremental; null for a full image. */
  parent: string | null;
  /** Sequences of the older images whose files hold blocks this image shares (empty when full). */
  bases: number[];
  attempt: number;
  createdAt: string;
  codec: 'zstd';
  level: number;
  blockSize: number;
  writer: string;
  sections: Section[];
  meta: Record<string, unknown>;
  /** What made the image (docs/image-format.md, "Job identity"); null in images written before cr recorded it. */
  identity: JobIdentity | null;
}

/**
 * What computation an image belongs to: its code, its args and the cr that wrote it. A resume
 * whose identity differs computes something else from this image's state.
 */
export interface JobIdentity {
  /** sha256 (hex) of the job's code: its files (`run`) or the bundle `submit` shipped. */
  code: string;
  /** Path (relative to the job file's directory, "/"-separated) → sha256 (hex) of each file behind `code`; null when the code is one bundle. */
  files: Record<string, string> | null;
  /** sha256 (hex) of the args as canonical JSON (object keys sorted). */
  args: string;
  /** The args as canonical JSON when short (to say which differ), else null. */
  argsJson: string | null;
  /** The cr version that wrote the image. */
  cr: string;
}

/** Canonical args JSON longer than this is recorded by its hash only. */
export const MAX_IDENTITY_ARGS_JSON = 4096;

/** An image's number as its id and file names spell it (here and in the scheduler's stores): at least 8 digits, zero-padded. */
export function paddedSequence(sequence: number): string {
  return String(sequence).padStart(8, '0');
}

/** The id of image `sequence` of `job`: `heat2d-00000012`. */
export function imageId(job: string, sequence: number): string {
  return `${job}-${paddedSequence(sequence)}`;
}

/** The name of image `sequence`'s file in its job's directory: `00000012.crimg`. */
export function imageFileName(sequence: number): string {
  return `${paddedSequence(sequence)}${IMAGE_EXTENSION}`;
}

export function hashToHex(hash: bigint): string {
  return hash.toString(16).padStart(16, '0');
}

/** zstd's ZSTD_COMPRESSBOUND: the largest frame a block of n bytes can become. */
export function zstdBound(n: number): number {
  return n + (n >>> 8) + (n < 128 * 1024 ? (128 * 1024 - n) >>> 11 : 0);
}

const HEX16 = /^[0-9a-f]{16}$/;

/**
 * Checks every field of a parsed manifest against docs/image-format.md, so that nothing later
 * trusts a length, offset or name from disk. `blocksEnd` is the manifest offset: blocks live
 * before it.
 */
export function validateManifest(value: unknown, blocksEnd: number, file: string | null, headerVersion: number = FORMAT_VERSION): Manifest {
  const fail = (what: string): never => {
    throw new ImageCorruptError('manifest', `invalid manifest: ${what}`, file);
  };
  if (!isPlainObject(value)) return fail('not an object');
  const m = value as Record<string, unknown>;
  if (m.format !== headerVersion) fail(`format is ${JSON.stringify(m.format)}, expected ${headerVersion} as in the header`);
  if (typeof m.job !== 'string' || !JOB_NAME_PATTERN.test(m.job)) fail('job is not a valid job name');
  if (!isCount(m.sequence) || (m.sequence as number) < 1) fail('sequence is not a positive integer');
  if (m.id !== imageId(m.job as string, m.sequence as number)) fail('id does not match job and sequence');
  const sequence = m.sequence as number;
  if (m.parent !== null) {
    const match = typeof m.parent === 'string' ? /^(.*)-(\d{8,})$/.exec(m.parent) : null;
    if (!match || match[1] !== m.job || Number(match[2]) < 1 || Number(match[2]) >= sequence) fail('parent is not an older image of the same job');
  }
  if (!Array.isArray(m.bases)) fail('bases is not an array');
  const bases = m.bases as unknown[];
  for (const [i, b] of bases.entries()) {
    if (!isCount(b) || (b as number) < 1 || (b as number) >= sequence || (i > 0 && (b as number) <= (bases[i - 1] as number))) {
      fail('bases must be increasing sequences of older images');
    }
  }
  if (m.parent === null && bases.length > 0) fail('a full image (parent null) has no bases');
  if (!isCount(m.attempt)) fail('attempt is not an integer');
  if (typeof m.createdAt !== 'string' || Number.isNaN(Date.parse(m.createdAt))) fail('createdAt is not a date');
  if (m.codec !== 'zstd') fail(`unknown codec ${JSON.stringify(m.codec)}`);
  if (!isCount(m.level) || (m.level as number) < MIN_LEVEL || (m.level as number) > MAX_LEVEL) fail('level is out of range');
  const blockSize = m.blockSize as number;
  if (!isCount(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    fail('blockSize is not a power of two from 4 KiB to 1 MiB');
  }
  if (typeof m.writer !== 'string') fail('writer is not a string');
  if (!isPlainObject(m.meta)) fail('meta is not an object');
  if (m.identity === undefined) m.identity = null; // written before cr recorded identities
  else if (m.identity !== null) validateIdentity(m.identity, fail);
  if (!Array.isArray(m.sections)) return fail('sections is not an array');

  const seenStates = new Map<string, number>(); // name → buffers seen so far
  const seenRegions = new Set<string>();
  for (const [si, raw] of (m.sections as unknown[]).entries()) {
    const where = `section ${si}`;
    if (!isPlainObject(raw)) fail(`${where} is not an object`);
    const s = raw as Record<string, unknown>;
    if (typeof s.name !== 'string' || s.name.length === 0 || s.name.length > MAX_SECTION_NAME_LENGTH) fail(`${where} has an invalid name`);
    const name = s.name as string;
    if (![1, 2, 4, 8].includes(s.elementSize as number)) fail(`${where} has an invalid elementSize`);
    if (!isCount(s.length)) fail(`${where} has an invalid length`);
    if (s.kind === 'state') {
      if ((s.length as number) > MAX_STATE_SECTION_LENGTH) fail(`${where} is a state of ${String(s.length)} bytes, larger than ${MAX_STATE_SECTION_LENGTH}`);
      if (s.role === 'v8') {
        if (seenStates.has(name)) fail(`${where}: state "${name}" appears twice`);
        if (s.elementSize !== 1) fail(`${where}: a v8 section has elementSize 1`);
        seenStates.set(name, 0);
      } else if (s.role === 'buffer') {
        const expected = seenStates.get(name);
        if (expected === undefined || s.index !== expected) fail(`${where}: buffer ${String(s.index)} of state "${name}" is out of order`);
        seenStates.set(name, (expected as number) + 1);
      } else {
        fail(`${where} has an unknown role`);
      }
    } else if (s.kind === 'region') {
      if (seenRegions.has(name)) fail(`${where}: region "${name}" appears twice`);
      seenRegions.add(name);
      const type = s.type as string;
      if (typeof type !== 'string' || !Object.hasOwn(REGION_TYPES, type)) fail(`${where} has an unknown region type`);
      const bpe = REGION_TYPES[type as RegionTypeName].BYTES_PER_ELEMENT;
      if (s.elementSize !== bpe || (s.length as number) % bpe !== 0) fail(`${where}: elementSize or length does not fit ${type}`);
    } else {
      fail(`${where} has an unknown kind`);
    }
    validateBlocks(s.blocks, s.length as number, blockSize, blocksEnd, new Set(bases as number[]), headerVersion, where, fail);
  }
  return value as unknown as Manifest;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function validateIdentity(value: unknown, fail: (what: string) => never): void {
  if (!isPlainObject(value)) fail('identity is not an object');
  const i = value as Record<string, unknown>;
  if (typeof i.code !== 'string' || !SHA256_HEX.test(i.code)) fail('identity.code is not a sha256');
  if (typeof i.args !== 'string' || !SHA256_HEX.test(i.args)) fail('identity.args is not a sha256');
  if (i.argsJson !== null && (typeof i.argsJson !== 'string' || i.argsJson.length > MAX_IDENTITY_ARGS_JSON)) fail('identity.argsJson is not a short string');
  if (typeof i.cr !== 'string' || i.cr.length > 64) fail('identity.cr is not a version');
  if (i.files !== null) {
    if (!isPlainObject(i.files)) fail('identity.files is not an object');
    for (const [name, hash] of Object.entries(i.files as Record<string, unknown>)) {
      if (name.length === 0 || name.length > 4096 || typeof hash !== 'string' || !SHA256_HEX.test(hash)) fail('identity.files holds an invalid entry');
    }
  }
}

function validateBlocks(
  blocks: unknown,
  length: number,
  blockSize: number,
  blocksEnd: number,
  bases: Set<number>,
  version: number,
  where: string,
  fail: (what: string) => never,
): void {
  if (!Array.isArray(blocks)) fail(`${where}: blocks is not an array`);
  const list = blocks as unknown[];
  const expectedCount = Math.ceil(length / blockSize);
  if (list.length !== expectedCount) fail(`${where} has ${list.length} blocks, expected ${expectedCount}`);
  const bound = zstdBound(blockSize);
  for (const [bi, b] of list.entries()) {
    const at = `${where} block ${bi}`;
    if (!Array.isArray(b) || (b.length !== 6 && b.length !== 7)) fail(`${at} is not a 6- or 7-tuple`);
    const [offset, stored, rawLength, flags, storedHash, rawHash, base] = b as unknown[];
    if (base !== undefined && !bases.has(base as number)) fail(`${at} refers to image ${String(base)}, which is not among the bases`);
    const expectedRaw = bi === expectedCount - 1 ? length - bi * blockSize : blockSize;
    if (!isCount(rawLength) || rawLength !== expectedRaw) fail(`${at} has raw length ${String(rawLength)}, expected ${expectedRaw}`);
    if (!isCount(offset) || (offset as number) < HEADER_LENGTH) fail(`${at} has an invalid offset`);
    if (!isCount(stored) || (stored as number) > bound) fail(`${at} has an invalid stored length`);
    // A shared block's offset is checked against its own image when it is read.
    if (base === undefined && (offset as number) + (stored as number) > blocksEnd) fail(`${at} lies outside the block area`);
    const planes = version >= 2 && flags === BLOCK_FLAG_PLANES;
    if (flags !== 0 && flags !== BLOCK_FLAG_ZSTD && flags !== (BLOCK_FLAG_ZSTD | BLOCK_FLAG_SHUFFLE) && !planes) fail(`${at} has invalid flags`);
    if (flags === 0 && stored !== rawLength) fail(`${at} is stored raw but its lengths differ`);
    if (typeof storedHash !== 'string' || !HEX16.test(storedHash)) fail(`${at} has an invalid stored hash`);
    if (typeof rawHash !== 'string' || !HEX16.test(rawHash)) fail(`${at} has an invalid raw hash`);
  }
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
