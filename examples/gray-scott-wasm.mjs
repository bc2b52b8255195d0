// gray-scott-wasm: Gray–Scott reaction–diffusion on an n×n periodic grid, computed by a kernel
// compiled to WebAssembly (examples/wasm/gray-scott.wat, built by scripts/build-wasm.mjs).
//
// The whole state of the kernel is its linear memory, registered with cr.protect('heap', memory):
// every checkpoint captures it, and after a restart it is grown back to its checkpointed size and
// restored in place before the loop goes on, so the run ends bit-identical to an uninterrupted one.
// The pattern that grows from a perturbed square is chaotic enough that one wrong bit anywhere
// would show in the checksum.
//
// Args (all optional): { n = 256, steps = 5000, seed = 1 }
//   n ≥ 4 the grid side, steps the Euler steps, seed the perturbation's cr.rng stream.
// Returns { n, steps, checksum, meanV, pages }: checksum is the SHA-256 (hex) of the final u and v
// grids (little-endian float64), meanV the mean of v, pages the memory's size in 64 KiB pages.
//
// Run:  npx cr-scheduler run examples/gray-scott-wasm.mjs --args '{"n":128,"steps":2000}'
import { createHash } from 'node:crypto';
import fs from 'node:fs';

const WASM = fs.readFileSync(new URL('./wasm/gray-scott.wasm', import.meta.url));
const PAGE = 65536;
// Parameters of the "mitosis"-like regime: Du, Dv, F, k.
const DU = 0.16, DV = 0.08, F = 0.035, K = 0.065;

export default async function grayScottWasm(cr, { n = 256, steps = 5000, seed = 1 } = {}) {
  if (!Number.isInteger(n) || n < 4 || n > 4096) throw new RangeError(`n must be an integer from 4 to 4096, got ${n}`);
  if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`steps must be an integer ≥ 0, got ${steps}`);

  const { instance } = await WebAssembly.instantiate(WASM, {});
  const { memory, step } = instance.exports;
  const cells = n * n * 8;                      // bytes of one grid
  const grids = [[0, cells], [2 * cells, 3 * cells]]; // [u, v] byte offsets of the two buffers
  const s = cr.state('gray-scott', { step: 0, cur: 0 });

  // Restores the memory in place (grown to its checkpointed size first) when this is a restart.
  cr.protect('heap', memory);
  if (cr.restored) {
    cr.log(`gray-scott-wasm: resumed at step ${s.step}/${steps} (attempt ${cr.attempt}, ${memory.buffer.byteLength / PAGE} pages)`);
  } else {
    const need = Math.ceil((4 * cells) / PAGE);
    memory.grow(need - memory.buffer.byteLength / PAGE);
    initialise(new Float64Array(memory.buffer), n, cr.rng(seed));
  }

  const every = Math.max(1, Math.floor(steps / 100));
  while (s.step < steps) {
    const [[us, vs], [ud, vd]] = s.cur === 0 ? grids : [grids[1], grids[0]];
    step(n, us, vs, ud, vd, DU, DV, F, K);
    s.cur ^= 1;
    s.step++;
    if (s.step % every === 0) cr.progress(s.step / steps, `step ${s.step}/${steps}`);
    await cr.checkpoint();
  }

  const [us, vs] = grids[s.cur];
  const u = new Uint8Array(memory.buffer, us, cells);
  const v = new Float64Array(memory.buffer, vs, n * n);
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i];
  return {
    n,
    steps,
    checksum: createHash('sha256').update(u).update(new Uint8Array(v.buffer, v.byteOffset, cells)).digest('hex'),
    meanV: sum / v.length,
    pages: memory.buffer.byteLength / PAGE,
  };
}

// u = 1, v = 0, except a square in the middle: u = 1/2, v = 1/4, each perturbed by up to ±1 %.
function initialise(heap, n, rng) {
  const cells = n * n;
  const u = heap.subarray(0, cells);
  const v = heap.subarray(cells, 2 * cells);
  u.fill(1);
  v.fill(0);
  const lo = Math.floor(n / 2 - n / 10), hi = Math.ceil(n / 2 + n / 10);
  for (let i = lo; i < hi; i++) {
    for (let j = lo; j < hi; j++) {
      u[i * n + j] = 0.5 * (1 + 0.02 * (rng.random() - 0.5));
      v[i * n + j] = 0.25 * (1 + 0.02 * (rng.random() - 0.5));
    }
  }
}
