// heat2d-team: the heat diffusion of heat2d.mjs, split in horizontal strips over a team of worker
// threads (cr.team), with the same result and checksum as the single-thread version.
//
// The two grids are SharedArrayBuffers the job registers with cr.shared ('u0', 'u1'): every
// member reads the whole current grid and writes its own strip of rows of the other one. The
// members' checkpoint() is the barrier between sweeps (no member starts sweep s + 1 before every
// strip of sweep s is written), and a team image holds the grids once plus each member's state.
//
// Args (all optional): { n = 2048, steps = 20000, members = 2 }
// Returns what heat2d.mjs returns: { n, steps, checksum, residual, samples }.
//
// Run:  npx cr-scheduler run examples/heat2d-team.mjs --args '{"n":256,"steps":500}'
import { fnv1a64, initialise } from './heat2d.mjs';

export default async function heat2dTeam(cr, { n = 2048, steps = 20000, members = 2 } = {}) {
  if (!Number.isInteger(n) || n < 3) throw new RangeError(`n must be an integer ≥ 3, got ${n}`);
  if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`steps must be an integer ≥ 0, got ${steps}`);
  if (!Number.isInteger(members) || members < 1 || members > n - 2) throw new RangeError(`members must be an integer from 1 to n − 2, got ${members}`);

  const grids = [cr.shared('u0', Float64Array, n * n), cr.shared('u1', Float64Array, n * n)];
  if (!cr.restored) for (const g of grids) initialise(g, n);

  const results = await cr.team(members, new URL('./heat2d-team-member.mjs', import.meta.url), { n, steps });
  const { cur } = results[0];
  const residual = Math.max(...cr.shared('residuals', Float64Array, members));

  const u = grids[cur];
  const at = (i, j) => u[i * n + j];
  const h = n >> 1, q = n >> 2;
  return {
    n,
    steps,
    checksum: fnv1a64(u),
    residual,
    samples: { centre: at(h, h), quarter: at(q, q), nearTop: at(1, h) },
  };
}
