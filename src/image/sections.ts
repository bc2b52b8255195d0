// What goes into an image: sections as capture hands them over (raw bytes in the job's memory, or
// once staged, in staging memory), and how a section is known across images. Capture and the
// pipeline build these; the plan and the writer read them.
import type { RegionTypeName, Section } from './format.js';

/** Where each block of a section sits in staging memory (capture/staging.ts fills it). */
export interface StagedBlocks {
  memory: Uint8Array;
  /** Bytes of the section (staged or not). */
  length: number;
  /** Byte offset of block b in `memory`, or -1 when the block is not staged (it will not be read). */
  slots: Float64Array;
  /**
   * Copy-on-write: the blocks land in their slots in the background, and ready[0] becomes 1 once
   * they all have (-1: the copy was cancelled); null when they were copied at the safe point.
   */
  ready: Int32Array | null;
}

/**
 * A section to write: its descriptor and the raw bytes it holds, in `data` or, once staged, in
 * staging memory (then `data` is not read again: the image writer thread gets an empty one).
 */
export type SectionInput =
  | { kind: 'state'; role: 'v8'; name: string; data: Uint8Array; staged?: StagedBlocks }
  | { kind: 'state'; role: 'buffer'; name: string; index: number; elementSize: number; data: Uint8Array; staged?: StagedBlocks }
  | { kind: 'region'; name: string; type: RegionTypeName; elementSize: number; data: Uint8Array; staged?: StagedBlocks };

/** Identifies "the same" section across images. */
export function sectionKey(section: Pick<Section, 'kind' | 'name'> & { role?: string; index?: number }): string {
  return section.kind === 'region' ? `region:${section.name}` : `state:${section.name}:${section.role}:${section.index ?? ''}`;
}

/** Raw bytes of a section. */
export function inputLength(input: SectionInput): number {
  return input.staged ? input.staged.length : input.data.length;
}

/** The manifest's description of an input, its blocks not yet filled in. */
export function describeSection(input: SectionInput): Section {
  const length = inputLength(input);
  switch (input.kind) {
    case 'region':
      return { kind: 'region', name: input.name, type: input.type, elementSize: input.elementSize, length, blocks: [] };
    case 'state':
      return input.role === 'v8'
        ? { kind: 'state', role: 'v8', name: input.name, elementSize: 1, length, blocks: [] }
        : { kind: 'state', role: 'buffer', name: input.name, index: input.index, elementSize: input.elementSize, length, blocks: [] };
  }
}
