// One member of heat2d-team.mjs: sweeps its strip of interior rows, sweep after sweep.
import { sweep } from './heat2d.mjs';

export default async function heat2dStrip(cr, { n, steps }) {
  const grids = [cr.shared('u0', Float64Array, n * n), cr.shared('u1', Float64Array, n * n)];
  // The largest change of each member's last sweep; the job takes their maximum at the end.
  const residuals = cr.shared('residuals', Float64Array, cr.size);
  const first = 1 + Math.floor(((n - 2) * cr.rank) / cr.size);
  const end = 1 + Math.floor(((n - 2) * (cr.rank + 1)) / cr.size);
  const s = cr.state('strip', { step: 0, cur: 0 });
  if (cr.restored && cr.rank === 0) cr.log(`heat2d-team: resumed at step ${s.step}/${steps} (attempt ${cr.attempt})`);

  const every = Math.max(1, Math.floor(steps / 100));
  while (s.step < steps) {
    residuals[cr.rank] = sweep(grids[s.cur], grids[s.cur ^ 1], n, first, end);
    s.cur ^= 1;
    s.step++;
    if (cr.rank === 0 && s.step % every === 0) cr.progress(s.step / steps, `step ${s.step}/${steps}`);
    await cr.checkpoint(); // the barrier: every strip of this sweep is written before the next one
  }
  return { step: s.step, cur: s.cur };
}
