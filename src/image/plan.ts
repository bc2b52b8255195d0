// The image plan: from the previous image and what changed since, which blocks of a new image are
// written and which are shared with older images (docs/image-format.md, "Incremental images").
// Decided once, at the safe point, by planImage; staging copies what the plan writes or compares,
// the writer follows it, and the figures (how much of a region changed) come from what it did.
import { blockHashOf, blockRecord, FORMAT_VERSION, type BlockRecord, type Manifest, type Section } from './format.js';
import { describeSection, sectionKey, type SectionInput } from './sections.js';

/**
 * What the plan says of one block of a section that has a base. The values are those of a dirty
 * tracker's capture (capture/dirty.ts), so its array serves as the plan as it is.
 */
export const BLOCK_SHARE = 0;
export const BLOCK_WRITE = 1;
/** Shared when its raw hash equals the base block's (a copy-on-write region let a writer in ahead, or nothing tracked it). */
export const BLOCK_COMPARE = 2;

export interface SectionPlan {
  /** Index of the parent's section whose blocks this one may share (same key, shape and block size), or null: every block is written. */
  base: number | null;
  /** With a base: BLOCK_SHARE, BLOCK_WRITE or BLOCK_COMPARE per block; null: BLOCK_COMPARE for every block. */
  blocks: Uint8Array | null;
}

/** Plain data, so that it crosses to the image writer thread as it is. */
export interface ImagePlan {
  /** The image whose blocks this one may share, or null: a full image. */
  parent: Manifest | null;
  /** Incremental images from the last full one to this one (0 when full), recorded as the manifest's `meta.chain`. */
  chain: number;
  /** One per input section, in order. */
  sections: SectionPlan[];
}

export interface PlanOptions {
  /** The last image committed (or restored from), or null. */
  previous: Manifest | null;
  blockSize: number;
  /** Every fullEvery-th image is full. Default: no limit. */
  fullEvery?: number;
  /** Per section (by `sectionKey`): one byte per block from dirty tracking (BLOCK_*). Sections without one are compared by hash. */
  changed?: Map<string, Uint8Array>;
}

/** The one place that decides what an image shares; see the file's head. */
export function planImage(inputs: SectionInput[], options: PlanOptions): ImagePlan {
  const { previous, blockSize, fullEvery = Infinity, changed } = options;
  const parent = previous !== null && chainOf(previous) + 1 < fullEvery ? previous : null;
  const byKey = new Map<string, number>();
  // Blocks are shared only between images of the same block size and block hash: the first image
  // after an upgrade that changed the hash (format 3) writes every block.
  if (parent !== null && parent.blockSize === blockSize && blockHashOf(parent.format) === blockHashOf(FORMAT_VERSION)) parent.sections.forEach((s, i) => byKey.has(sectionKey(s)) || byKey.set(sectionKey(s), i));
  const sections = inputs.map((input): SectionPlan => {
    const section = describeSection(input);
    const key = sectionKey(section);
    const i = byKey.get(key);
    const old = i === undefined ? null : parent!.sections[i]!;
    if (old === null || !sameShape(old, section)) return { base: null, blocks: null };
    return { base: i!, blocks: changed?.get(key) ?? null };
  });
  return { parent, chain: parent === null ? 0 : chainOf(parent) + 1, sections };
}

/** Which blocks of a planned section staging must copy: one byte per block, nonzero = copy; null = all. */
export function blocksToStage(plan: SectionPlan): Uint8Array | null {
  return plan.base === null ? null : plan.blocks;
}

/**
 * Block `b` as the new image shares it from `base` (the parent's section the plan names), or null
 * when it is written. `rawHash` is called only for a block the plan left to its hash.
 */
export function sharedBlock(plan: SectionPlan, base: Section, parentSequence: number, b: number, rawHash: () => string): BlockRecord | null {
  const decision = plan.blocks === null ? BLOCK_COMPARE : plan.blocks[b];
  if (decision !== BLOCK_SHARE && decision !== BLOCK_COMPARE) return null;
  const prior = blockRecord(base.blocks[b]!);
  if (decision === BLOCK_COMPARE && rawHash() !== prior.rawHash) return null;
  // A block is always named by the image that holds its bytes, never by a chain of references.
  return { ...prior, base: prior.base ?? parentSequence };
}

/** What writing a planned section did: the figure dirty tracking learns from. */
export interface SectionOutcome {
  key: string;
  /** Share of the section's blocks written rather than shared, or null when it had no base (nothing to share with). */
  changedShare: number | null;
}

export function sectionOutcome(input: SectionInput, plan: SectionPlan | null, blockCount: number, written: number): SectionOutcome {
  return { key: sectionKey(input), changedShare: plan === null || plan.base === null ? null : written / Math.max(1, blockCount) };
}

/** How many incremental images lead to this one from its last full image (0 when full). */
function chainOf(manifest: Manifest): number {
  const chain = manifest.meta.chain;
  return manifest.parent === null ? 0 : typeof chain === 'number' && Number.isSafeInteger(chain) && chain > 0 ? chain : 1;
}

function sameShape(old: Section, section: Section): boolean {
  return old.length === section.length && old.elementSize === section.elementSize && (old.kind !== 'region' || section.kind !== 'region' || old.type === section.type);
}
