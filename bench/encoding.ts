// Encoding throughput against Blosc, on the same data in the same run: cr's encoder (XXH64 +
// byte shuffle + zstd-1 per 1 MiB block) with its pool at 1 and at 2 threads (each in a child
// process, CR_THREADS=n), and the only Blosc that npm has: numcodecs 0.3.2, Blosc 1.x compiled
// to WebAssembly, one thread. numcodecs.js calls blosc_compress with typesize 1, which makes its
// byte shuffle a no-op; so it is measured as it is, and again on input that cr's shuffle has
// already shuffled per 1 MiB block (Blosc's own shuffle, done for it, not counted in its time).
// Native Blosc with 2 threads is not on npm and is not measured here: the bench says so rather
// than print a figure from elsewhere.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Blosc from 'numcodecs/blosc';
import { getCodec } from '../src/codec/index.js';
import { loadNative } from '../src/native/binding.js';
import { fillSmoothField } from './data.js';

const MiB = 1024 * 1024;
const BLOCK = MiB;

interface Rate {
  mbps: number;
  ratio: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** cr's encoder over `bytes` of the bench field, in this process: MB/s and ratio. */
async function crRate(bytes: number, reps: number): Promise<Rate> {
  const codec = await getCodec({ prefer: 'native' });
  const field = new Float64Array(bytes / 8);
  fillSmoothField(field);
  const data = new Uint8Array(field.buffer);
  const batch = 16;
  const encoder = codec.createEncoder(BLOCK, batch);
  const times: number[] = [];
  let stored = 0;
  for (let r = 0; r <= reps; r++) {
    stored = 0;
    const t0 = performance.now();
    for (let at = 0; at < data.length; at += batch * BLOCK) {
      const out = await encoder.encode(data.subarray(at, Math.min(data.length, at + batch * BLOCK)), 8, 1);
      for (let i = 0; i < out.count; i++) stored += out.storedLengths[i]!;
    }
    if (r > 0) times.push(performance.now() - t0); // the first pass warms the pool and the caches
  }
  return { mbps: bytes / 1e6 / (median(times) / 1000), ratio: bytes / stored };
}

/** numcodecs' WebAssembly Blosc, zstd level 1, 1 MiB chunks, on `data` as given. */
async function bloscRate(data: Uint8Array, reps: number): Promise<Rate> {
  const codec = Blosc.fromConfig({ id: 'blosc', cname: 'zstd', clevel: 1, shuffle: 1, blocksize: 0 });
  const times: number[] = [];
  let stored = 0;
  for (let r = 0; r <= reps; r++) {
    stored = 0;
    const t0 = performance.now();
    for (let at = 0; at < data.length; at += BLOCK) stored += (await codec.encode(data.subarray(at, Math.min(data.length, at + BLOCK)))).length;
    if (r > 0) times.push(performance.now() - t0);
  }
  return { mbps: data.length / 1e6 / (median(times) / 1000), ratio: data.length / stored };
}

/** The bench field, byte-shuffled per 1 MiB block by cr's native shuffle. */
function preShuffled(bytes: number): Uint8Array {
  const { binding } = loadNative();
  if (!binding) throw new Error('the native addon is needed to pre-shuffle the Blosc input');
  const field = new Float64Array(bytes / 8);
  fillSmoothField(field);
  const raw = new Uint8Array(field.buffer);
  const out = new Uint8Array(bytes);
  for (let at = 0; at < bytes; at += BLOCK) binding.shuffle(raw.subarray(at, at + BLOCK), out.subarray(at, at + BLOCK), 8);
  return out;
}

/** Runs cr's encoder in a child process whose pool has `threads` threads. */
function crRateInChild(threads: number, bytes: number, reps: number): Rate {
  const self = fileURLToPath(import.meta.url);
  const out = execFileSync(process.execPath, [self, '--child', String(bytes), String(reps)], {
    env: { ...process.env, CR_THREADS: String(threads) },
    encoding: 'utf8',
  });
  return JSON.parse(out) as Rate;
}

export async function benchEncoding(bytes: number, reps: number): Promise<string[]> {
  const one = crRateInChild(1, bytes, reps);
  const two = crRateInChild(2, bytes, reps);
  const field = new Float64Array(bytes / 8);
  fillSmoothField(field);
  const asIs = await bloscRate(new Uint8Array(field.buffer), reps);
  const shuffled = await bloscRate(preShuffled(bytes), reps);
  const rate = (r: Rate): string => `${r.mbps.toFixed(0)} MB/s, ratio ${r.ratio.toFixed(3)}`;
  return [
    `${bytes / MiB} MiB sin·cos field + 1e-6 noise, zstd level 1, 1 MiB blocks:`,
    `  cr (shuffle + zstd + 2×XXH64), 1 thread:        ${rate(one)}`,
    `  cr, 2 threads:                                  ${rate(two)}`,
    `  Blosc (numcodecs 0.3.2 WebAssembly, 1 thread):  ${rate(asIs)}  (typesize 1: its shuffle does nothing)`,
    `  the same Blosc on input shuffled beforehand:    ${rate(shuffled)}  (shuffle time not counted)`,
    `  cr 1 thread ÷ Blosc WebAssembly 1 thread (pre-shuffled): ${(one.mbps / shuffled.mbps).toFixed(2)}× the speed, ratio ${(one.ratio / shuffled.ratio).toFixed(2)}× (target ≥ 1.5×, ratio ≥ 1)`,
    '  native Blosc with 2 threads:                    not measured in this run (not on npm)',
  ];
}

if (process.argv[2] === '--child') {
  const rate = await crRate(Number(process.argv[3]), Number(process.argv[4]));
  process.stdout.write(JSON.stringify(rate));
}
