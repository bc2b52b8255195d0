// What the scheduler checks of an image an agent wrote to the shared store before it records it,
// and which of a job's images the store keeps. The check reads only the image's ends (header,
// manifest, footer: a few KiB whatever its size) from the store: the tag proves the manifest is
// this job's (only its key makes it), the manifest says which image it is and which bases it
// shares blocks with, and those bases are what the record keeps. The blocks are checked by the
// reader of the agent that restores from it, against the hashes of this manifest.
import { FOOTER_LENGTH, getCodec, HEADER_LENGTH, manifestFromEnds, MAX_MANIFEST_LENGTH } from '../../src/internal.js';
import { CrError } from '../../src/index.js';
import { SharedStoreError, type SharedStore } from '../images/store.js';
import { storeJobName } from '../names.js';
import { Refused } from './upload-outcome.js';

/**
 * The bases of object `name`, image `sequence` of `job`, once its size is `bytes` and its tag
 * (with `key`) and manifest check; a Refused saying what is wrong otherwise.
 */
export async function checkStoredImage(store: SharedStore, name: string, job: number, sequence: number, bytes: number, key: Buffer): Promise<number[]> {
  const what = `image ${sequence} of job ${job} (${name} in ${store.location})`;
  try {
    const size = await store.size(name);
    if (size === null) throw new Refused(false, `${what} is not in the image store`);
    if (size !== bytes) throw new Refused(false, `${what} is ${size} bytes, the agent says ${bytes}`);
    if (size < HEADER_LENGTH + FOOTER_LENGTH) throw new Refused(false, `${what} is too short to be an image (${size} bytes)`);
    const footer = await store.read(name, size - FOOTER_LENGTH, FOOTER_LENGTH);
    // The footer's manifest length, bounded before anything of that length is read (the reader checks the rest).
    const manifestLength = Math.min(Number(footer.readBigUInt64LE(8)), MAX_MANIFEST_LENGTH, size - HEADER_LENGTH - FOOTER_LENGTH);
    const [head, manifest] = await Promise.all([store.read(name, 0, HEADER_LENGTH), store.read(name, size - FOOTER_LENGTH - manifestLength, manifestLength)]);
    const codec = await getCodec();
    const checked = manifestFromEnds(head, Buffer.concat([manifest, footer]), size, name, { codec, key, expect: { job: storeJobName(job), sequence } });
    return checked.bases;
  } catch (err) {
    if (err instanceof CrError) throw new Refused(false, `${what} does not verify: ${err.message}`);
    if (err instanceof SharedStoreError) throw new Refused(false, err.message);
    throw err;
  }
}

/**
 * The sequences of a job's images the store keeps: the newest `keep`, and every image one of
 * them shares blocks with. When a kept image's bases are unknown (`null`), every older one stays.
 */
export function keptSequences(images: readonly { sequence: number; bases: number[] | null }[], keep: number): Set<number> {
  const sorted = [...images].sort((a, b) => a.sequence - b.sequence);
  const kept = sorted.slice(Math.max(0, sorted.length - keep));
  const needed = new Set(kept.map((i) => i.sequence));
  let keepBelow = 0;
  for (const image of kept) {
    if (image.bases === null) keepBelow = Math.max(keepBelow, image.sequence);
    else for (const b of image.bases) needed.add(b);
  }
  for (const image of sorted) if (image.sequence < keepBelow) needed.add(image.sequence);
  return needed;
}
