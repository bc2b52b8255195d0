// The benchmark's data sets, generated deterministically: a smooth float64 field (the kind of
// array a PDE solver checkpoints) and a state of many small objects.

/** sin(x)·cos(y) on a square grid plus uniform noise of amplitude `noise`. */
export function fillSmoothField(field: Float64Array, noise = 1e-6, seed = 12345): void {
  const side = Math.max(1, Math.floor(Math.sqrt(field.length)));
  let s = seed >>> 0;
  for (let i = 0; i < field.length; i++) {
    // xorshift32: cheap and deterministic
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const x = (i % side) / side;
    const y = Math.floor(i / side) / side;
    field[i] = Math.sin(2 * Math.PI * x) * Math.cos(2 * Math.PI * y) + noise * (s / 4294967296 - 0.5);
  }
}

export interface Particle {
  id: number;
  name: string;
  position: [number, number, number];
  alive: boolean;
}

export function smallObjects(count: number): Particle[] {
  const out: Particle[] = new Array(count);
  for (let i = 0; i < count; i++) {
    out[i] = { id: i, name: `p${i}`, position: [i * 0.5, i * 0.25, -i], alive: i % 3 !== 0 };
  }
  return out;
}
