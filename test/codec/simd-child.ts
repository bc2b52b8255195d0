// Encodes and decodes the cases of simd-paths.test.ts with the native codec, in whatever process
// loads it: the test runs it in children whose CR_SIMD caps the addon's vector paths, and in its
// own process, whose addon takes the widest. Run as a script, it prints its result as JSON.
import { fileURLToPath } from 'node:url';
import { getNativeCodec, MAX_BLOCK_SIZE } from '../../src/codec/index.js';
import { BLOCK_FLAG_PLANES, loadNative } from '../../src/native/binding.js';
import { bytesOf, decodedBytes, encodeSection, equalBytes, guardsIntact, randomBytes, randomWalk, repeatingBytes, sectionRequest, smoothField } from './helpers.js';

export interface PathResult {
  simd: string;
  cases: { what: string; predictor: number | null; predictors: number[]; storedHashes: string[]; flags: number[]; decoded: boolean }[];
}

const KiB = 1024;

/** predictor: the one every plane-coded block of the case must use (0 none, 1 delta, 2 line). */
function cases(): { what: string; data: Uint8Array; elementSize: number; level: number; predictor: number | null }[] {
  const smooth = smoothField(1024, 400, 31);
  const field = bytesOf(smooth); // 3.1 MiB
  const float32 = bytesOf(Float32Array.from(smooth)); // 1.6 MiB
  return [
    // The line predictor over several blocks, the last a part block: 64-element groups, a step's
    // last elements that are no whole group, and the tail past the last whole element.
    { what: 'a smooth float64 field', data: field.subarray(0, 2 * 1024 * KiB + 8 * 1027 + 5), elementSize: 8, level: 1, predictor: 2 },
    { what: 'a smooth float64 field at level 3', data: field.subarray(0, 1024 * KiB + 8 * 100), elementSize: 8, level: 3, predictor: 2 },
    // A delta step that ends in a part group: 131 072 + 1000 elements, the last step 1000 = 15 * 64 + 40.
    { what: 'a random walk (delta)', data: randomWalk(131_072 + 1000, 32), elementSize: 8, level: 1, predictor: 1 },
    { what: 'repeating bytes (no predictor)', data: repeatingBytes(300 * KiB + 8 * 37, 33), elementSize: 8, level: 1, predictor: 0 },
    { what: 'a field read as float32 pairs', data: field.subarray(0, 600 * KiB + 4 * 13), elementSize: 4, level: 1, predictor: null },
    // The same three predictors for 4-byte elements, each ending in a part group and a tail.
    { what: 'a smooth float32 field', data: float32.subarray(0, 1024 * KiB + 4 * 1000 + 3), elementSize: 4, level: 1, predictor: 2 },
    { what: 'a 32-bit random walk (delta)', data: randomWalk(262_144 + 1000, 35, 32), elementSize: 4, level: 1, predictor: 1 },
    { what: 'repeating bytes as 4-byte elements (no predictor)', data: repeatingBytes(300 * KiB + 4 * 37 + 1, 36), elementSize: 4, level: 1, predictor: 0 },
    // Last steps of whole groups only (128 elements) and of 63 elements, which no group covers.
    { what: 'a random walk whose last step is two whole groups', data: randomWalk(131_072 + 1024 + 128, 37), elementSize: 8, level: 1, predictor: 1 },
    { what: 'a 32-bit random walk whose last step is two whole groups', data: randomWalk(262_144 + 1024 + 128, 38, 32), elementSize: 4, level: 1, predictor: 1 },
    { what: 'a smooth float32 field whose last step is 63 elements', data: float32.subarray(0, 4 * (262_144 + 1024 + 63)), elementSize: 4, level: 1, predictor: 2 },
    { what: 'a field read as 16-bit words', data: field.subarray(0, 300 * KiB + 1), elementSize: 2, level: 1, predictor: null },
    { what: 'random bytes', data: randomBytes(100 * KiB + 3, 34), elementSize: 8, level: 1, predictor: null },
  ];
}

export async function runCases(): Promise<PathResult> {
  const { binding } = loadNative();
  const codec = getNativeCodec();
  if (!binding || !codec) throw new Error('native codec unavailable');
  const result: PathResult = { simd: binding.simd, cases: [] };
  for (const c of cases()) {
    const s = await encodeSection(codec, c.data, MAX_BLOCK_SIZE, c.elementSize, c.level);
    const r = sectionRequest(s, MAX_BLOCK_SIZE);
    const failure = codec.decode(r);
    const predictors = Array.from(s.flags).flatMap((f, i) => (f === BLOCK_FLAG_PLANES ? [s.image[s.srcOffsets[i]!]!] : []));
    result.cases.push({
      what: c.what,
      predictor: c.predictor,
      predictors,
      storedHashes: Array.from(s.storedHashes, (h) => h.toString(16)),
      flags: Array.from(s.flags),
      decoded: failure === null && equalBytes(decodedBytes(r, c.data.length), c.data) && guardsIntact(r, c.data.length),
    });
  }
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(JSON.stringify(await runCases()));
}
