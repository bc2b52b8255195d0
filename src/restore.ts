// Restore: rebuilds what a job registered from an image whose tag and manifest were checked
// (steps 1–5 of docs/image-format.md). `RestoredImage.load` decodes every block — states and
// regions, each block read once and verified as it is decoded (step 6) — before the job starts,
// so a damaged block makes the caller fall back to an older image with no job state touched;
// the regions are decoded straight into the memory the job then gets from `cr.region()`.
// `new RestoredImage` decodes states up front and regions only when the job asks for them.
import type { ImageReader } from './image/reader.js';
import { REGION_TYPES, type Manifest, type RegionConstructor, type RegionSection, type StateBufferSection, type StateV8Section } from './image/format.js';
import { deserializeState } from './capture/state-serializer.js';
import { RegionMismatchError } from './errors.js';
import { allocateRegion, type RegionMemory } from './region.js';

/** What a job was restored from: `cr.image`. */
export interface ImageInfo {
  id: string;
  job: string;
  sequence: number;
  file: string;
  /** ISO-8601 time of the safe point the image holds. */
  createdAt: string;
  /** The attempt that wrote it. */
  attempt: number;
  bytes: number;
}

export class RestoredImage {
  readonly info: ImageInfo;
  /** The image's manifest: the starting point of the next incremental image. */
  readonly manifest: Manifest;
  readonly #reader: ImageReader;
  readonly #states = new Map<string, { v8: Uint8Array; buffers: Uint8Array[] }>();
  readonly #regions = new Map<string, RegionSection>();
  readonly #used = new Set<string>();
  /** Regions decoded before the job started, until the job takes them. */
  readonly #decoded = new Map<string, RegionMemory>();

  /**
   * Decodes and verifies the whole image now, regions included (into memory the job takes over
   * in `region()`). Throws the reader's ImageCorruptError on a damaged block, having freed what
   * it allocated; the reader stays open for the caller to close.
   */
  static load(reader: ImageReader): RestoredImage {
    const image = new RestoredImage(reader);
    try {
      for (const section of image.#regions.values()) {
        const Ctor = REGION_TYPES[section.type];
        const memory = allocateRegion(section.name, Ctor, section.length / section.elementSize);
        image.#decoded.set(section.name, memory);
        reader.readSectionInto(section, memory.bytes);
      }
    } catch (err) {
      image.#freeDecoded();
      throw err;
    }
    return image;
  }

  constructor(reader: ImageReader) {
    this.#reader = reader;
    const m = reader.manifest;
    this.manifest = m;
    this.info = { id: m.id, job: m.job, sequence: m.sequence, file: reader.file, createdAt: m.createdAt, attempt: m.attempt, bytes: reader.size };
    const states: (StateV8Section | StateBufferSection)[] = [];
    for (const section of m.sections) {
      if (section.kind === 'region') this.#regions.set(section.name, section);
      else states.push(section);
    }
    // Read together: many small states cost about one read, not one each.
    const bytes = reader.readSections(states);
    states.forEach((section, i) => {
      if (section.role === 'v8') this.#states.set(section.name, { v8: bytes[i]!, buffers: [] });
      else this.#states.get(section.name)!.buffers.push(bytes[i]!);
    });
  }

  /** The checkpointed value of a state, or `undefined` when the image has none by that name. */
  state(name: string): { value: unknown } | undefined {
    const stored = this.#states.get(name);
    if (!stored) return undefined;
    this.#used.add(`state:${name}`);
    return { value: deserializeState(name, stored.v8, stored.buffers, this.#reader.file) };
  }

  hasRegion(name: string): boolean {
    return this.#regions.has(name);
  }

  /** The states and regions whose names start with `prefix`. */
  names(prefix: string): { kind: 'state' | 'region'; name: string }[] {
    const out: { kind: 'state' | 'region'; name: string }[] = [];
    for (const name of this.#states.keys()) if (name.startsWith(prefix)) out.push({ kind: 'state', name });
    for (const name of this.#regions.keys()) if (name.startsWith(prefix)) out.push({ kind: 'region', name });
    return out;
  }

  /** The element type and byte length of region section `name`, or null when the image has none. */
  regionShape(name: string): { type: string; bytes: number } | null {
    const section = this.#regions.get(name);
    return section ? { type: section.type, bytes: section.length } : null;
  }

  /** Decodes region `name` into `memory`, after checking that the job asks for what was saved. */
  restoreRegion(name: string, type: string, length: number, memory: RegionMemory): void {
    const section = this.#section(name, type, length);
    const decoded = this.#decoded.get(name);
    if (decoded) {
      // `load` already decoded and verified it: copy it rather than read and decode it again.
      memory.bytes.set(decoded.bytes);
      this.#decoded.delete(name);
      decoded.discard(); // never the job's: freeing it would detach its ArrayBuffer in the job's thread
      return;
    }
    this.#reader.readSectionInto(section, memory.bytes);
  }

  /**
   * The memory of region `name` holding its checkpointed contents, after the same check: the
   * memory `load` decoded it into, or new memory decoded now.
   */
  region(name: string, Ctor: RegionConstructor, type: string, length: number): RegionMemory {
    const section = this.#section(name, type, length);
    const decoded = this.#decoded.get(name);
    if (decoded) {
      this.#decoded.delete(name); // the job owns it now
      return decoded;
    }
    const memory = allocateRegion(name, Ctor, length);
    try {
      this.#reader.readSectionInto(section, memory.bytes);
    } catch (err) {
      memory.free();
      throw err;
    }
    return memory;
  }

  #section(name: string, type: string, length: number): RegionSection {
    const section = this.#regions.get(name)!;
    this.#used.add(`region:${name}`); // asked for, even if the request does not fit
    const savedLength = section.length / section.elementSize;
    if (section.type !== type || savedLength !== length) {
      throw new RegionMismatchError(
        `region ${JSON.stringify(name)} was checkpointed as ${section.type}(${savedLength}) but the job now asks for ` +
          `${type}(${length}): register regions as they were when the image was taken`,
      );
    }
    return section;
  }

  /** Sections of the image the job never asked for (reported as a warning at the job's end). */
  unused(): string[] {
    const names: string[] = [];
    for (const name of this.#states.keys()) if (!this.#used.has(`state:${name}`)) names.push(`state "${name}"`);
    for (const name of this.#regions.keys()) if (!this.#used.has(`region:${name}`)) names.push(`region "${name}"`);
    return names;
  }

  close(): void {
    this.#freeDecoded();
    this.#reader.close();
  }

  #freeDecoded(): void {
    for (const memory of this.#decoded.values()) memory.discard();
    this.#decoded.clear();
  }
}
