// nbody: direct-summation gravitational N-body simulation (G = 1) with Plummer softening,
// integrated with velocity Verlet (kick–drift–kick leapfrog), time step dt = 1e-3, ε = 0.05.
//
// Initial conditions come from a splitmix32 generator seeded with `seed` (written out below):
// bodies uniform in the unit ball, masses in [0.5, 1.5) scaled to a total of 1, small random
// velocities; the centre of mass is moved to rest at the origin. Only +, −, ×, ÷ and sqrt
// (all correctly rounded by IEEE-754) are used, so results are bit-identical on any machine.
//
// Args (all optional): { bodies = 1000, steps = 1000, seed = 1 }   seed is a 32-bit integer.
// Returns { bodies, steps, energy, checksum }: energy = { initial, final, relativeDrift,
// history: [[step, E], …] }; checksum is a 64-bit FNV-1a (hex) over the bytes of the final
// positions and velocities (little-endian Float64Arrays).
//
// Run:  npx cr-scheduler run examples/nbody.mjs --args '{"bodies":500,"steps":200}'
//
// Checkpointing: positions, velocities, accelerations (x, y, z interleaved) and masses are
// regions; the step counter and the energy history are a state. A step updates all regions and
// then advances `step` before the safe point, so each safe point holds one consistent step.
// Accelerations are kept (not recomputed) so a resumed run needs no extra force evaluation.

const DT = 1e-3;
const EPS2 = 0.05 * 0.05;

export default async function nbody(cr, { bodies = 1000, steps = 1000, seed = 1 } = {}) {
  if (!Number.isInteger(bodies) || bodies < 1) throw new RangeError(`bodies must be an integer ≥ 1, got ${bodies}`);
  if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`steps must be an integer ≥ 0, got ${steps}`);
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);

  const n = bodies;
  const pos = cr.region('pos', Float64Array, 3 * n);
  const vel = cr.region('vel', Float64Array, 3 * n);
  const acc = cr.region('acc', Float64Array, 3 * n);
  const mass = cr.region('mass', Float64Array, n);
  const s = cr.state('nbody', { step: 0, energy: [] });   // energy: [[step, E], …]

  if (cr.restored) {
    cr.log(`nbody: resumed at step ${s.step}/${steps} (attempt ${cr.attempt})`);
  } else {
    initialise(pos, vel, mass, n, seed);
    accelerations(pos, mass, acc, n);
    s.energy.push([0, energy(pos, vel, mass, n)]);
  }

  const every = Math.max(1, Math.floor(steps / 100));   // progress report interval
  const record = Math.max(1, Math.floor(steps / 20));   // energy history interval
  while (s.step < steps) {
    kick(vel, acc, 3 * n);
    for (let k = 0; k < 3 * n; k++) pos[k] += DT * vel[k];   // drift
    accelerations(pos, mass, acc, n);
    kick(vel, acc, 3 * n);
    s.step++;
    if (s.step % record === 0 || s.step === steps) s.energy.push([s.step, energy(pos, vel, mass, n)]);
    if (s.step % every === 0) cr.progress(s.step / steps, `step ${s.step}/${steps}`);
    await cr.checkpoint();
  }

  const initial = s.energy[0][1], final = s.energy.at(-1)[1];
  return {
    bodies,
    steps,
    energy: { initial, final, relativeDrift: (final - initial) / (Math.abs(initial) || 1), history: s.energy },
    checksum: fnv1a64([pos, vel]),
  };
}

function kick(vel, acc, len) {
  for (let k = 0; k < len; k++) vel[k] += 0.5 * DT * acc[k];
}

// Softened pairwise accelerations, each pair visited once (i < j) and applied to both bodies.
function accelerations(pos, mass, acc, n) {
  acc.fill(0);
  for (let i = 0; i < n; i++) {
    const xi = pos[3 * i], yi = pos[3 * i + 1], zi = pos[3 * i + 2], mi = mass[i];
    let ax = 0, ay = 0, az = 0;
    for (let j = i + 1; j < n; j++) {
      const dx = pos[3 * j] - xi, dy = pos[3 * j + 1] - yi, dz = pos[3 * j + 2] - zi;
      const r2 = dx * dx + dy * dy + dz * dz + EPS2;
      const inv3 = 1 / (r2 * Math.sqrt(r2));
      const fi = mass[j] * inv3, fj = mi * inv3;
      ax += dx * fi; ay += dy * fi; az += dz * fi;
      acc[3 * j] -= dx * fj; acc[3 * j + 1] -= dy * fj; acc[3 * j + 2] -= dz * fj;
    }
    acc[3 * i] += ax; acc[3 * i + 1] += ay; acc[3 * i + 2] += az;
  }
}

// Total energy: kinetic Σ ½mv² plus softened potential −Σ_{i<j} m_i m_j / sqrt(r² + ε²).
function energy(pos, vel, mass, n) {
  let kin = 0, pot = 0;
  for (let i = 0; i < n; i++) {
    const vx = vel[3 * i], vy = vel[3 * i + 1], vz = vel[3 * i + 2];
    kin += 0.5 * mass[i] * (vx * vx + vy * vy + vz * vz);
    for (let j = i + 1; j < n; j++) {
      const dx = pos[3 * j] - pos[3 * i], dy = pos[3 * j + 1] - pos[3 * i + 1], dz = pos[3 * j + 2] - pos[3 * i + 2];
      pot -= (mass[i] * mass[j]) / Math.sqrt(dx * dx + dy * dy + dz * dz + EPS2);
    }
  }
  return kin + pot;
}

function initialise(pos, vel, mass, n, seed) {
  const rand = splitmix32(seed);
  const uniform = () => 2 * rand() - 1;                  // [-1, 1)
  let total = 0;
  for (let i = 0; i < n; i++) {
    let x, y, z;
    do { x = uniform(); y = uniform(); z = uniform(); } while (x * x + y * y + z * z >= 1);
    pos.set([x, y, z], 3 * i);
    vel.set([0.3 * uniform(), 0.3 * uniform(), 0.3 * uniform()], 3 * i);
    total += mass[i] = 0.5 + rand();
  }
  for (let i = 0; i < n; i++) mass[i] /= total;
  for (const v of [pos, vel]) {                           // centre of mass at rest at the origin
    for (let d = 0; d < 3; d++) {
      let m = 0;
      for (let i = 0; i < n; i++) m += mass[i] * v[3 * i + d];
      for (let i = 0; i < n; i++) v[3 * i + d] -= m;
    }
  }
}

// splitmix32: a small seeded generator of doubles in [0, 1) (32 random bits each).
function splitmix32(seed) {
  let z = seed >>> 0;
  return () => {
    z = (z + 0x9e3779b9) | 0;
    let x = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
    return ((x ^ (x >>> 16)) >>> 0) / 4294967296;
  };
}

// 64-bit FNV-1a over the raw bytes of several typed arrays in order, as 16 hex digits.
// The state is two 32-bit halves; multiplying by the prime 2^40 + 0x1b3 is h·0x1b3 + (h << 40).
function fnv1a64(views) {
  let hi = 0xcbf29ce4 | 0, lo = 0x84222325 | 0;
  for (const view of views) {
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    for (let k = 0; k < bytes.length; k++) {
      lo ^= bytes[k];
      const p0 = (lo & 0xffff) * 0x1b3;              // lo·0x1b3 in 16-bit halves, all in int32
      const p1 = (lo >>> 16) * 0x1b3 + (p0 >>> 16);
      hi = (Math.imul(hi, 0x1b3) + (p1 >>> 16) + (lo << 8)) | 0;
      lo = (p1 << 16) | (p0 & 0xffff);
    }
  }
  return (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}
