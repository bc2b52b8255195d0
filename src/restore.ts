// Restore: rebuilds what a job registered from a verified image. States are decoded up front
// (they are small and their damage should show before the job starts); regions are decoded
// straight into their new memory when the job asks for them.
import type { ImageReader } from './image/reader.js';
import type { Manifest, RegionSection, StateBufferSection, StateV8Section } from './image/format.js';
import { deserializeState } from './capture/state-serializer.js';
import { RegionMismatchError } from './errors.js';
import type { RegionMemory } from './region.js';

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

  constructor(reader: ImageReader) {
    this.#reader = reader;
    const m = reader.manifest;
    this.manifest = m;
    this.info = { id: m.id, job: m.job, sequence: m.sequence, file: reader.file, createdAt: m.createdAt, attempt: m.attempt, bytes: reader.size };
    for (const section of m.sections) {
      if (section.kind === 'region') {
        this.#regions.set(section.name, section);
      } else if (section.role === 'v8') {
        this.#states.set(section.name, { v8: reader.readSection(section as StateV8Section), buffers: [] });
      } else {
        this.#states.get(section.name)!.buffers.push(reader.readSection(section as StateBufferSection));
      }
    }
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
    const section = this.#regions.get(name)!;
    this.#used.add(`region:${name}`); // asked for, even if the request does not fit
    const savedLength = section.length / section.elementSize;
    if (section.type !== type || savedLength !== length) {
      throw new RegionMismatchError(
        `region ${JSON.stringify(name)} was checkpointed as ${section.type}(${savedLength}) but the job now asks for ` +
          `${type}(${length}): register regions as they were when the image was taken, or start over with --fresh`,
      );
    }
    this.#reader.readSectionInto(section, memory.bytes);
  }

  /** Sections of the image the job never asked for (reported as a warning at the job's end). */
  unused(): string[] {
    const names: string[] = [];
    for (const name of this.#states.keys()) if (!this.#used.has(`state:${name}`)) names.push(`state "${name}"`);
    for (const name of this.#regions.keys()) if (!this.#used.has(`region:${name}`)) names.push(`region "${name}"`);
    return names;
  }

  close(): void {
    this.#reader.close();
  }
}
