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
  /**
   * Staged at the safe point while the image writer thread already reads (capture/staging.ts):
   * the copy counts the checkpoint's blocks in place, in order, in count[0] (-1: the copy failed),
   * and block b of this section is in place once count[0] > first + b. null when every block was
   * in place before the section was handed over.
   */
  copied: { count: Int32Array; first: number } | null;
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

/** How long the writer waits between looks at a copy-on-write section's word (see inPlace). */
const COW_POLL_MS = 1;

/**
 * Resolves once blocks [first, first + count) of a section are in staging memory, rejects when
 * their copy failed or was cancelled; null when they are there already (or the section is not
 * staged). The one wait before the image writer reads a staged block.
 */
export function inPlace(input: SectionInput, first: number, count: number): Promise<void> | null {
  const staged = input.staged;
  if (!staged) return null;
  const { ready, copied } = staged;
  const cow = ready !== null && Atomics.load(ready, 0) !== 1;
  const want = copied === null ? 0 : copied.first + first + count;
  const copying = copied !== null && Atomics.load(copied.count, 0) < want;
  if (!cow && !copying) return null;
  return (async () => {
    // The addon cannot wake Atomics.waitAsync (V8 keeps its own waiter lists), so a copy-on-write
    // flush is polled: a flush of 1 GiB takes about 0.1 s, against a poll every millisecond.
    while (ready !== null && Atomics.load(ready, 0) === 0) await new Promise((resolve) => setTimeout(resolve, COW_POLL_MS));
    if (ready !== null && Atomics.load(ready, 0) !== 1) {
      throw new Error(`the copy-on-write copy of ${input.kind} "${input.name}" was cancelled: the region was released during the checkpoint`);
    }
    if (copied === null) return;
    // The staging copy runs on the job's thread, which notifies after each piece.
    for (let seen = Atomics.load(copied.count, 0); seen >= 0 && seen < want; seen = Atomics.load(copied.count, 0)) {
      const wait = Atomics.waitAsync(copied.count, 0, seen);
      if (wait.async) await wait.value;
    }
    if (Atomics.load(copied.count, 0) < 0) throw new Error(`the staging copy of ${input.kind} "${input.name}" failed on the job's thread`);
  })();
}
