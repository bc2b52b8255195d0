// montecarlo-pi: estimates π by throwing random points into the unit square and counting those
// that land inside the quarter disc x² + y² < 1.
//
// The random stream is xoshiro128** (Blackman & Vigna), seeded through splitmix32, written out
// below. Each sample draws two 32-bit outputs and keeps their top 26 bits as integer
// coordinates X, Y in [0, 2^26); the point is inside when X² + Y² < 2^52. All of that is exact
// integer arithmetic in doubles (X² + Y² < 2^53), so `inside` is an exact count.
//
// Args (all optional): { samples = 1e8, seed = 42, batch = 1e5 }
//   samples  number of points (integer ≤ 2^53), seed  a 32-bit integer, batch  points per safe point.
// Returns { samples, inside, pi, checksum }: pi = 4·inside/samples; checksum is the final
// 128-bit generator state in hex (a fingerprint of the whole stream that was consumed).
//
// Run:  npx cr-scheduler run examples/montecarlo-pi.mjs --args '{"samples":1e7,"seed":7}'
//
// Checkpointing: the generator's full state lives in cr.state next to the counters. A batch
// runs on local copies of the four state words, then writes them back and advances `done` and
// `inside` together before the safe point, so a restart resumes the same stream at the same
// place and the count is identical to an uninterrupted run.

export default async function montecarloPi(cr, { samples = 1e8, seed = 42, batch = 1e5 } = {}) {
  if (!Number.isSafeInteger(samples) || samples < 0) throw new RangeError(`samples must be a safe integer ≥ 0, got ${samples}`);
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be an integer ≥ 1, got ${batch}`);
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);

  const s = cr.state('pi', { done: 0, inside: 0, rng: seedXoshiro(seed) });
  if (cr.restored) cr.log(`montecarlo-pi: resumed at ${s.done}/${samples} samples (attempt ${cr.attempt})`);

  const reportEvery = Math.max(1, Math.round(samples / batch / 100)); // ≈ 100 progress reports
  let batches = 0;
  while (s.done < samples) {
    const count = Math.min(batch, samples - s.done);
    s.inside += throwPoints(s.rng, count);
    s.done += count;
    if (++batches % reportEvery === 0) cr.progress(s.done / samples, `${s.done}/${samples} samples`);
    await cr.checkpoint();
  }

  return {
    samples,
    inside: s.inside,
    pi: samples > 0 ? (4 * s.inside) / samples : NaN,
    checksum: Array.from(s.rng, (w) => w.toString(16).padStart(8, '0')).join(''),
  };
}

const TWO_52 = 2 ** 52;

// Draws `count` points from the xoshiro128** state in `rng` (a Uint32Array of 4 words, updated
// in place) and returns how many fell inside the quarter disc.
function throwPoints(rng, count) {
  let a = rng[0], b = rng[1], c = rng[2], d = rng[3];
  let inside = 0;
  for (let k = 0; k < count; k++) {
    // first output
    let r = Math.imul(rotl(Math.imul(b, 5), 7), 9);
    let t = b << 9;
    c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = rotl(d, 11);
    const x = r >>> 6;
    // second output
    r = Math.imul(rotl(Math.imul(b, 5), 7), 9);
    t = b << 9;
    c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = rotl(d, 11);
    const y = r >>> 6;
    if (x * x + y * y < TWO_52) inside++;
  }
  rng[0] = a; rng[1] = b; rng[2] = c; rng[3] = d;
  return inside;
}

function rotl(x, k) {
  return (x << k) | (x >>> (32 - k));
}

// splitmix32 expands a 32-bit seed into the 128-bit xoshiro state (never all zero).
function seedXoshiro(seed) {
  let z = seed >>> 0;
  const st = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    z = (z + 0x9e3779b9) | 0;
    let x = z;
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
    st[i] = x ^ (x >>> 16);
  }
  if ((st[0] | st[1] | st[2] | st[3]) === 0) st[0] = 1;
  return st;
}
