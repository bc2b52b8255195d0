// Deterministic test data shared by binding.test.ts and its worker fixture.

/** Bytes from a 32-bit xorshift generator: incompressible, and the same for a given seed. */
export function randomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A smooth 2-D float64 field, sin(x)·cos(y) plus noise of amplitude 1e-6, as raw bytes. */
export function smoothField(nx: number, ny: number, seed: number): Uint8Array {
  const noise = randomBytes(nx * ny, seed);
  const f = new Float64Array(nx * ny);
  for (let y = 0; y < ny; y++) {
    const cy = Math.cos((y / ny) * 2 * Math.PI * 3);
    for (let x = 0; x < nx; x++) {
      const i = y * nx + x;
      f[i] = Math.sin((x / nx) * 2 * Math.PI * 5) * cy + 1e-6 * (noise[i]! / 255);
    }
  }
  return new Uint8Array(f.buffer);
}
