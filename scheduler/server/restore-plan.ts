// Which images a new attempt restores from: decided here, once, from the job's image records;
// the agent checks the transfer and the store's reader the blocks, but neither chooses again.
import type { ImageRow } from './schema.js';

/** The bases a record lists; null when the stored value is not a list of numbers (such an image is never restored from). */
export function basesOf(row: ImageRow): number[] | null {
  try {
    const bases = JSON.parse(row.bases_json) as unknown;
    return Array.isArray(bases) && bases.every((b) => Number.isSafeInteger(b)) ? (bases as number[]) : null;
  } catch {
    return null;
  }
}

/**
 * The newest image whose bases are all held, preceded by those bases (oldest first), from a
 * job's records in sequence order. Empty when the job has no usable image.
 */
export function restorePlan(rows: readonly ImageRow[]): ImageRow[] {
  const bySequence = new Map(rows.map((r) => [r.sequence, r]));
  for (let i = rows.length - 1; i >= 0; i--) {
    const bases = (basesOf(rows[i]!) ?? [-1]).map((b) => bySequence.get(b));
    if (bases.every((b) => b !== undefined)) return [...(bases as ImageRow[]).sort((a, b) => a.sequence - b.sequence), rows[i]!];
  }
  return [];
}
