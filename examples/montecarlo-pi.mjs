// montecarlo-pi: estimates π by throwing random points into the unit square and counting those
// that land inside the quarter disc x² + y² < 1.
//
// The random stream is cr.rng(seed): xoshiro128**, whose state cr captures at every checkpoint.
// Each sample draws two 32-bit outputs and keeps their top 26 bits as integer coordinates X, Y in
// [0, 2^26); the point is inside when X² + Y² < 2^52. All of that is exact integer arithmetic in
// doubles (X² + Y² < 2^53), so `inside` is an exact count.
//
// Args (all optional): { samples = 1e8, seed = 42, batch = 1e5 }
//   samples  number of points (integer ≤ 2^53), seed  an integer, batch  points per safe point.
// Returns { samples, inside, pi, checksum }: pi = 4·inside/samples; checksum is the next four
// outputs of the stream in hex (a fingerprint of how much of the stream was consumed).
//
// Run:  npx cr-scheduler run examples/montecarlo-pi.mjs --args '{"samples":1e7,"seed":7}'
//
// Checkpointing: the stream is captured by cr with the counters in cr.state. A batch draws its
// points, then `done` and `inside` advance together before the safe point, so a restart resumes
// the same stream at the same place and the count is identical to an uninterrupted run.

export default async function montecarloPi(cr, { samples = 1e8, seed = 42, batch = 1e5 } = {}) {
  if (!Number.isSafeInteger(samples) || samples < 0) throw new RangeError(`samples must be a safe integer ≥ 0, got ${samples}`);
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be an integer ≥ 1, got ${batch}`);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);

  const rng = cr.rng(seed);
  const s = cr.state('pi', { done: 0, inside: 0 });
  if (cr.restored) cr.log(`montecarlo-pi: resumed at ${s.done}/${samples} samples (attempt ${cr.attempt})`);

  const reportEvery = Math.max(1, Math.round(samples / batch / 100)); // ≈ 100 progress reports
  let batches = 0;
  while (s.done < samples) {
    const count = Math.min(batch, samples - s.done);
    s.inside += throwPoints(rng, count);
    s.done += count;
    if (++batches % reportEvery === 0) cr.progress(s.done / samples, `${s.done}/${samples} samples`);
    await cr.checkpoint();
  }

  return {
    samples,
    inside: s.inside,
    pi: samples > 0 ? (4 * s.inside) / samples : NaN,
    checksum: [rng.uint32(), rng.uint32(), rng.uint32(), rng.uint32()].map((w) => w.toString(16).padStart(8, '0')).join(''),
  };
}

const TWO_52 = 2 ** 52;

// Draws `count` points and returns how many fell inside the quarter disc.
function throwPoints(rng, count) {
  let inside = 0;
  for (let k = 0; k < count; k++) {
    const x = rng.uint32() >>> 6;
    const y = rng.uint32() >>> 6;
    if (x * x + y * y < TWO_52) inside++;
  }
  return inside;
}
