// The addon's vector paths (native/src/simd.h) write the same bytes and read them back exactly at
// every width: the images a CPU with AVX-512 writes are those one with only SSE2 writes. Each
// narrower path runs in a child process whose CR_SIMD caps it (simd-child.ts); this process
// takes the widest this CPU has.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BLOCK_FLAG_PLANES, loadNative, SIMD_PATHS } from '../../src/native/binding.js';
import type { SimdPaths } from '../../src/native/binding.js';
import { runCases } from './simd-child.js';
import type { PathResult } from './simd-child.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'simd-child.js');

// Off x86-64 there is one path, which the other codec tests cover.
const { binding, reason } = loadNative();
const skip = !binding ? `native addon unavailable: ${reason ?? 'no reason given'}` : binding.simd === 'none' ? 'the addon has no vector paths off x86-64' : null;
const it = skip === null ? test : test.skip;
if (skip !== null) console.warn(`[codec tests] skipping the vector-path test: ${skip}`);

function capped(cap: 'sse2' | 'avx2'): PathResult {
  const out = execFileSync(process.execPath, [CHILD], { env: { ...process.env, CR_SIMD: cap }, encoding: 'utf8' });
  return JSON.parse(out) as PathResult;
}

it('Every vector width writes the same stored bytes and decodes them exactly.', async (t) => {
  const widest = await runCases();
  if (widest.simd !== 'avx512') t.log(`this CPU has no AVX-512 (${widest.simd}): its one-pass decoder is not run here`);
  const runs = [widest, capped('avx2'), capped('sse2')];
  for (const [cap, run] of [['avx2', runs[1]!], ['sse2', runs[2]!]] as const) {
    // A cap above what the CPU has leaves the CPU's own width.
    const expected = SIMD_PATHS[Math.min(SIMD_PATHS.indexOf(cap), SIMD_PATHS.indexOf(widest.simd as SimdPaths))];
    t.is(run.simd, expected, `CR_SIMD=${cap}`);
  }
  t.log(`widths compared: ${runs.map((r) => r.simd).join(', ')}`);
  for (const run of runs) {
    for (const c of run.cases) t.true(c.decoded, `${run.simd}: ${c.what} decodes exactly`);
  }
  for (const run of runs.slice(1)) {
    t.deepEqual(run.cases, widest.cases, `${run.simd} writes what ${widest.simd} writes`);
  }
  // Each 4- and 8-byte case reaches the plane coding with the predictor it was built for.
  for (const c of widest.cases) {
    if (c.predictor !== null) t.true(c.predictors.length > 0 && c.predictors.every((p) => p === c.predictor), `${c.what}: predictor ${c.predictor} in every plane-coded block, got ${c.predictors.join(', ')}`);
  }
  t.true(widest.cases.some((c) => c.flags.includes(BLOCK_FLAG_PLANES)), 'some blocks are plane-coded');
});
