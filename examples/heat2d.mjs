// heat2d: 2-D heat diffusion on an n×n plate, explicit 5-point stencil (Jacobi sweeps).
//
// Computes u(t+1) = u + r·(uN + uS + uE + uW − 4u) with r = 0.2 (stable: r ≤ 1/4) on the
// interior of the grid. The boundary is fixed (Dirichlet): the top edge holds the profile
// 4x(1−x), the other three edges are 0. The interior starts with a parabolic hot spot in the
// middle. Only +, −, × and ÷ are used (no Math.sin/exp), so the result is bit-identical on
// every IEEE-754 machine, not just on the same Node.js build.
//
// Args (all optional): { n = 2048, steps = 20000 }   n ≥ 3 is the grid side, steps the sweeps.
// Returns { n, steps, checksum, residual, samples }:
//   checksum  64-bit FNV-1a (hex) over the bytes of the final grid (a little-endian Float64Array),
//   residual  max |u(t+1) − u(t)| over the last sweep,
//   samples   u at the centre, at a quarter point and next to the top edge.
//
// Run:  npx cr-scheduler run examples/heat2d.mjs --args '{"n":256,"steps":500}'
//
// Checkpointing: the two grids are regions 'u0' and 'u1'; the state says which one is current.
// A sweep reads the current grid and writes the other one, then the state flips `cur` and
// advances `step` (both before the safe point), so every safe point sees a consistent pair
// (step, current grid) and a restart continues exactly where the last image was taken.

const R = 0.2;

export default async function heat2d(cr, { n = 2048, steps = 20000 } = {}) {
  if (!Number.isInteger(n) || n < 3) throw new RangeError(`n must be an integer ≥ 3, got ${n}`);
  if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`steps must be an integer ≥ 0, got ${steps}`);

  const grids = [cr.region('u0', Float64Array, n * n), cr.region('u1', Float64Array, n * n)];
  // cur: index of the grid holding u(step); residuals: [step, max change] every 10 %.
  const s = cr.state('heat', { step: 0, cur: 0, residual: 0, residuals: [] });

  if (cr.restored) cr.log(`heat2d: resumed at step ${s.step}/${steps} (attempt ${cr.attempt})`);
  else for (const g of grids) initialise(g, n);

  const every = Math.max(1, Math.floor(steps / 100));   // progress report interval
  const record = Math.max(1, Math.floor(steps / 10));   // residual history interval
  while (s.step < steps) {
    s.residual = sweep(grids[s.cur], grids[s.cur ^ 1], n);
    s.cur ^= 1;
    s.step++;
    if (s.step % record === 0 || s.step === steps) s.residuals.push([s.step, s.residual]);
    if (s.step % every === 0) cr.progress(s.step / steps, `step ${s.step}/${steps}`);
    await cr.checkpoint();
  }

  const u = grids[s.cur];
  const at = (i, j) => u[i * n + j];
  const h = n >> 1, q = n >> 2;
  return {
    n,
    steps,
    checksum: fnv1a64(u),
    residual: s.residual,
    samples: { centre: at(h, h), quarter: at(q, q), nearTop: at(1, h) },
  };
}

// Fixed boundary (top edge 4x(1−x), other edges 0) and a parabolic hot spot of radius n/8.
// (initialise, sweep and fnv1a64 are also used by heat2d-team.mjs.)
export function initialise(u, n) {
  u.fill(0);
  for (let j = 0; j < n; j++) {
    const x = j / (n - 1);
    u[j] = 4 * x * (1 - x);
  }
  const c = (n - 1) / 2, r2 = (n / 8) * (n / 8);
  for (let i = 1; i < n - 1; i++) {
    for (let j = 1; j < n - 1; j++) {
      const d2 = (i - c) * (i - c) + (j - c) * (j - c);
      if (d2 < r2) u[i * n + j] = 1 - d2 / r2;
    }
  }
}

// One Jacobi sweep over the interior rows [first, end) from src into dst; returns the largest change.
export function sweep(src, dst, n, first = 1, end = n - 1) {
  let maxDelta = 0;
  for (let i = first; i < end; i++) {
    const row = i * n;
    for (let k = row + 1; k < row + n - 1; k++) {
      const c = src[k];
      const delta = R * (src[k - n] + src[k + n] + src[k - 1] + src[k + 1] - 4 * c);
      dst[k] = c + delta;
      const a = delta < 0 ? -delta : delta;
      if (a > maxDelta) maxDelta = a;
    }
  }
  return maxDelta;
}

// 64-bit FNV-1a over the raw bytes of a typed array, as 16 hex digits. The 64-bit state is two
// 32-bit halves; multiplying by the prime 2^40 + 0x1b3 is h·0x1b3 + (h << 40).
export function fnv1a64(view) {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  let hi = 0xcbf29ce4 | 0, lo = 0x84222325 | 0;
  for (let k = 0; k < bytes.length; k++) {
    lo ^= bytes[k];
    const p0 = (lo & 0xffff) * 0x1b3;                // lo·0x1b3 in 16-bit halves, all in int32
    const p1 = (lo >>> 16) * 0x1b3 + (p0 >>> 16);
    hi = (Math.imul(hi, 0x1b3) + (p1 >>> 16) + (lo << 8)) | 0;
    lo = (p1 << 16) | (p0 & 0xffff);
  }
  return (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}
