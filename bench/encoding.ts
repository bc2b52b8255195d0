// Encoding and decoding against native Blosc and zstd's own CLI, on the same bytes in the same
// run: the bench field is written to a temporary file once, and cr (in child processes whose
// pool has CR_THREADS threads), Blosc (bench/blosc-rate.py, python3-blosc's libblosc through
// ctypes) and `zstd -1 -T2` all read that file. Nothing here prints a figure it did not measure:
// a peer that is not installed is named as such.
//
// Wall-clock rates are medians of `reps` passes after a warm-up pass. This machine is shared, so
// each row also gives the CPU time its process spent per MiB (all its threads), which the load
// of others disturbs far less than wall time; the targets are checked on both.
//
// Threads: cr's encoder runs on its pool alone (the JS thread waits), so CR_THREADS=2 is two
// threads. Its decoder runs on the pool and the calling thread together, so two threads is
// CR_THREADS=1. Blosc gets 2 threads for both; the zstd CLI compresses with -T2 and decompresses
// on one thread (it has no other mode).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getCodec } from '../src/codec/index.js';
import type { DecodeRequest } from '../src/codec/index.js';
import { blockHashOf, FORMAT_VERSION } from '../src/image/format.js';
import { loadNative } from '../src/native/binding.js';
import { fillSmoothField } from './data.js';
import { median } from './stats.js';

/** The block hash of the current image format: cr's rows hash as an image's blocks are hashed. */
const HASH = blockHashOf(FORMAT_VERSION);

const MiB = 1024 * 1024;
const BLOCK = MiB;
const BATCH_BLOCKS = 16;
const PYTHON = '/usr/bin/python3'; // Debian's python3-blosc installs for this one, not for a pyenv python3
const BLOSC_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../bench/blosc-rate.py');

interface Rates {
  label: string;
  encodeMBps: number;
  encodeCpuMsPerMiB: number | null;
  decodeMBps: number;
  decodeCpuMsPerMiB: number | null;
  ratio: number;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** cr's codec over the field in `file` (elements of `elementSize` bytes), in this process: encode and decode rates and the ratio. */
async function crRates(file: string, reps: number, level: number, elementSize: number): Promise<Rates> {
  const codec = await getCodec({ prefer: 'native' });
  const data = new Uint8Array(fs.readFileSync(file));
  const mib = data.length / MiB;
  // Two encoders with a batch queued on each, as the image writer keeps the pool busy: while one
  // batch's results are taken, the other's blocks are being encoded.
  const encoders = [codec.createEncoder(BLOCK, BATCH_BLOCKS), codec.createEncoder(BLOCK, BATCH_BLOCKS)];
  const count = Math.ceil(data.length / BLOCK);
  // The blocks laid out back to back, as in an image, for the decode passes.
  const image = new Uint8Array(codec.name === 'native' ? data.length + count * 64 : 2 * data.length);
  const r: DecodeRequest = {
    count,
    src: image,
    srcOffsets: new Float64Array(count),
    storedLengths: new Uint32Array(count),
    flags: new Uint8Array(count),
    storedHashes: new BigUint64Array(count),
    rawHashes: new BigUint64Array(count),
    dst: new Uint8Array(data.length),
    dstOffsets: Float64Array.from({ length: count }, (_, i) => i * BLOCK),
    rawLengths: Uint32Array.from({ length: count }, (_, i) => Math.min(BLOCK, data.length - i * BLOCK)),
    elementSize,
    hash: HASH,
  };
  const encWall: number[] = [];
  const encCpu: number[] = [];
  let stored = 0;
  // A warm-up pass, `reps` timed passes, and one more whose blocks are copied out for decoding.
  for (let rep = 0; rep <= reps + 1; rep++) {
    const copy = rep === reps + 1;
    stored = 0;
    const w0 = performance.now();
    const c0 = cpuMs();
    const batches = Math.ceil(data.length / (BATCH_BLOCKS * BLOCK));
    const encode = (k: number) => encoders[k % 2]!.encode(data.subarray(k * BATCH_BLOCKS * BLOCK, Math.min(data.length, (k + 1) * BATCH_BLOCKS * BLOCK)), elementSize, level, HASH);
    const inFlight = [encode(0), batches > 1 ? encode(1) : null];
    for (let k = 0, block = 0; k < batches; k++) {
      const out = await inFlight[k % 2]!;
      for (let i = 0; i < out.count; i++, block++) {
        if (copy) {
          r.srcOffsets[block] = stored;
          r.storedLengths[block] = out.storedLengths[i]!;
          r.flags[block] = out.flags[i]!;
          r.storedHashes[block] = out.storedHashes[i]!;
          r.rawHashes[block] = out.rawHashes[i]!;
          image.set(out.stored.subarray(i * out.stride, i * out.stride + out.storedLengths[i]!), stored);
        }
        stored += out.storedLengths[i]!;
      }
      // This encoder's results are taken: it starts the batch after the other one's.
      inFlight[k % 2] = k + 2 < batches ? encode(k + 2) : null;
    }
    if (rep > 0 && !copy) {
      encWall.push(performance.now() - w0);
      encCpu.push(cpuMs() - c0);
    }
  }
  const decWall: number[] = [];
  const decCpu: number[] = [];
  for (let rep = 0; rep <= reps; rep++) {
    const w0 = performance.now();
    const c0 = cpuMs();
    const failure = codec.decode(r);
    if (failure) throw new Error(`decode failed at block ${failure.index}: ${failure.reason}`);
    if (rep > 0) {
      decWall.push(performance.now() - w0);
      decCpu.push(cpuMs() - c0);
    }
  }
  if (Buffer.compare(r.dst, data) !== 0) throw new Error('decoded bytes differ from the field');
  return {
    label: 'cr',
    encodeMBps: data.length / 1e6 / (median(encWall) / 1000),
    encodeCpuMsPerMiB: median(encCpu) / mib,
    decodeMBps: data.length / 1e6 / (median(decWall) / 1000),
    decodeCpuMsPerMiB: median(decCpu) / mib,
    ratio: data.length / stored,
  };
}

/** Runs crRates in a child process whose pool has `threads` threads. */
function crInChild(threads: number, file: string, reps: number, level: number, elementSize: number): Rates {
  const self = fileURLToPath(import.meta.url);
  const out = execFileSync(process.execPath, [self, '--child', file, String(reps), String(level), String(elementSize)], {
    env: { ...process.env, CR_THREADS: String(threads) },
    encoding: 'utf8',
  });
  return JSON.parse(out) as Rates;
}

/** Native Blosc through bench/blosc-rate.py, or why it cannot run. */
function bloscRates(file: string, reps: number, typesize: number): Rates[] | string {
  if (!fs.existsSync(PYTHON)) return `not installed: apt-get install python3-blosc (${PYTHON} is missing)`;
  const run = spawnSync(PYTHON, [BLOSC_SCRIPT, file, '2', String(reps), String(typesize)], { encoding: 'utf8' });
  if (run.status === 3) return 'not installed: apt-get install python3-blosc';
  if (run.status !== 0) return `failed: ${(run.stderr || run.error?.message || `exit ${run.status}`).trim()}`;
  return run.stdout.trim().split('\n').map((line) => {
    const r = JSON.parse(line) as Rates & { version: string };
    return { ...r, label: `Blosc ${r.version} ${r.label}, 2 threads` };
  });
}

/** Wall and CPU time of one command, its stdout to /dev/null, via GNU time when present. */
function timed(command: string, args: string[]): { wallMs: number; cpuMs: number | null } {
  const gnuTime = fs.existsSync('/usr/bin/time');
  const devNull = fs.openSync('/dev/null', 'w');
  try {
    const w0 = performance.now();
    const run = gnuTime
      ? spawnSync('/usr/bin/time', ['-f', '%U %S', command, ...args], { stdio: ['ignore', devNull, 'pipe'], encoding: 'utf8' })
      : spawnSync(command, args, { stdio: ['ignore', devNull, 'pipe'], encoding: 'utf8' });
    const wallMs = performance.now() - w0;
    if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${run.stderr}`);
    if (!gnuTime) return { wallMs, cpuMs: null };
    const [user, sys] = run.stderr.trim().split('\n').pop()!.split(' ').map(Number);
    return { wallMs, cpuMs: (user! + sys!) * 1000 };
  } finally {
    fs.closeSync(devNull);
  }
}

/** `zstd -1 -T2` on the file and `zstd -d` of its output, or why it cannot run. */
function zstdCliRates(file: string, reps: number): Rates | string {
  const which = spawnSync('zstd', ['--version'], { encoding: 'utf8' });
  if (which.error || which.status !== 0) return 'not installed: apt-get install zstd';
  const version = /v(\d+\.\d+\.\d+)/.exec(which.stdout)?.[1] ?? '?';
  const frame = `${file}.zst`;
  execFileSync('zstd', ['-1', '-T2', '-q', '-f', file, '-o', frame]);
  try {
    const bytes = fs.statSync(file).size;
    const mib = bytes / MiB;
    const enc = Array.from({ length: reps + 1 }, () => timed('zstd', ['-1', '-T2', '-q', '-c', file])).slice(1);
    const dec = Array.from({ length: reps + 1 }, () => timed('zstd', ['-d', '-q', '-c', frame])).slice(1);
    const cpu = (xs: { cpuMs: number | null }[]): number | null => (xs[0]!.cpuMs === null ? null : median(xs.map((x) => x.cpuMs!)) / mib);
    return {
      label: `zstd ${version} CLI, -1 -T2 (decompression: 1 thread)`,
      encodeMBps: bytes / 1e6 / (median(enc.map((x) => x.wallMs)) / 1000),
      encodeCpuMsPerMiB: cpu(enc),
      decodeMBps: bytes / 1e6 / (median(dec.map((x) => x.wallMs)) / 1000),
      decodeCpuMsPerMiB: cpu(dec),
      ratio: bytes / fs.statSync(frame).size,
    };
  } finally {
    fs.rmSync(frame, { force: true });
  }
}

/** The widest vector paths the addon takes here (native/src/simd.h). */
function simdPaths(): string {
  return loadNative().binding?.simd ?? 'no addon';
}

/** The rows as an aligned table under its column heads. */
function table(rows: Rates[]): string[] {
  const width = Math.max(...rows.map((r) => r.label.length));
  const cpu = (v: number | null): string => (v === null ? '—' : v.toFixed(3));
  return [
    `  ${''.padEnd(width)}  enc MB/s  CPU ms  dec MB/s  CPU ms   ratio`,
    ...rows.map(
      (r) =>
        `  ${r.label.padEnd(width)}  ${r.encodeMBps.toFixed(0).padStart(6)}  ${cpu(r.encodeCpuMsPerMiB).padStart(7)}  ${r.decodeMBps.toFixed(0).padStart(6)}  ${cpu(r.decodeCpuMsPerMiB).padStart(7)}  ${r.ratio.toFixed(3).padStart(6)}`,
    ),
  ];
}

/** "2.134× (target ≥ 2×: met)" for a ratio of mine to theirs, higher being better: three decimals, so a ratio just under the target is not printed as on it. */
function against(x: number, target: number): string {
  return `${x.toFixed(3)}× (target ≥ ${target}×: ${x >= target ? 'met' : 'not met'})`;
}

/** Each figure of `runs` (the same row measured in several rounds) as its median. */
function medianRates(runs: Rates[]): Rates {
  const cpu = (pick: (r: Rates) => number | null): number | null => (runs.some((r) => pick(r) === null) ? null : median(runs.map((r) => pick(r)!)));
  return {
    label: runs[0]!.label,
    encodeMBps: median(runs.map((r) => r.encodeMBps)),
    encodeCpuMsPerMiB: cpu((r) => r.encodeCpuMsPerMiB),
    decodeMBps: median(runs.map((r) => r.decodeMBps)),
    decodeCpuMsPerMiB: cpu((r) => r.decodeCpuMsPerMiB),
    ratio: median(runs.map((r) => r.ratio)),
  };
}

/** Rounds in which cr and Blosc measure the same field in turns, for the targets. */
const ROUNDS = 3;

export async function benchEncoding(bytes: number, reps: number): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-bench-encoding-'));
  try {
    const file = path.join(dir, 'field.f64');
    const field = new Float64Array(bytes / 8);
    fillSmoothField(field);
    fs.writeFileSync(file, new Uint8Array(field.buffer));
    // One row: the encode figures of one child, the decode figures of another (threads: above).
    const joined = (label: string, encode: Rates, decode: Rates): Rates => ({ ...encode, label, decodeMBps: decode.decodeMBps, decodeCpuMsPerMiB: decode.decodeCpuMsPerMiB });
    const crLevel1 = (): Rates[] => {
      const one = crInChild(1, file, reps, 1, 8);
      const two = crInChild(2, file, reps, 1, 8);
      return [joined('cr plane-coded, level 1: encode 2 threads, decode 2 (pool 1 + caller)', two, one), { ...one, label: 'cr, encode 1 thread (decode as above)' }];
    };
    // cr and Blosc in turns, in rounds whose order alternates: the host's memory bus is shared, and
    // a decode at cr's rate is bound by it, so a busy spell fell on whichever ran in it (cr's
    // decode took 0.10 ms of CPU per MiB in most runs, 0.16 in some, Blosc's 0.26–0.30). The
    // table gives each figure's median over the rounds, the targets the median of the rounds' ratios.
    const rounds: { cr: Rates[]; blosc: Rates[] | string }[] = [];
    for (let k = 0; k < ROUNDS; k++) {
      const crFirst = k % 2 === 0 ? crLevel1() : null;
      const blosc = bloscRates(file, reps, 8);
      rounds.push({ cr: crFirst ?? crLevel1(), blosc });
      if (typeof blosc === 'string') break; // no Blosc to take turns with
    }
    const crEncode2 = medianRates(rounds.map((r) => r.cr[0]!));
    const crEncode1 = medianRates(rounds.map((r) => r.cr[1]!));
    const bloscRounds = rounds.map((r) => r.blosc).filter((b): b is Rates[] => typeof b !== 'string');
    const blosc: Rates[] | string = bloscRounds.length > 0 ? bloscRounds[0]!.map((_, i) => medianRates(bloscRounds.map((b) => b[i]!))) : (rounds[0]!.blosc as string);
    // Level 2 also Huffman-codes the planes level 1 leaves raw (docs/image-format.md).
    const level2 = joined('cr plane-coded, level 2: the same threads', crInChild(2, file, reps, 2, 8), crInChild(1, file, reps, 2, 8));
    const zstd = zstdCliRates(file, reps);
    const rows: Rates[] = [crEncode2, crEncode1, level2, ...(typeof blosc === 'string' ? [] : blosc), ...(typeof zstd === 'string' ? [] : [zstd])];
    const lines = [
      `${bytes / MiB} MiB sin·cos field + 1e-6 noise (float64), the same file for every row; wall: median of ${reps} passes after a warm-up; CPU: the process's CPU time per MiB, median; ` +
        `cr's level 1 and Blosc: medians of ${rounds.length} rounds in turns; cr's vector paths: ${simdPaths()}`,
      ...table(rows),
    ];
    if (typeof blosc === 'string') lines.push(`  native Blosc: ${blosc}`);
    if (typeof zstd === 'string') lines.push(`  zstd CLI: ${zstd}`);
    // cr ÷ Blosc by CPU time: theirs over mine, as less CPU per MiB is faster.
    const cpuOver = (mine: number | null, theirs: number | null): number | null => (mine === null || theirs === null ? null : theirs / mine);
    const byCpu = (x: number | null): string => (x === null ? '' : `; by CPU time ${x.toFixed(2)}×`);
    if (bloscRounds.length > 0) {
      // Round by round against Blosc's first row: zstd-1, shuffle, 1 MiB blocks.
      const per = (pick: (cr: Rates, anchor: Rates) => number | null): number | null => {
        const xs = rounds.flatMap((r) => (typeof r.blosc === 'string' ? [] : [pick(r.cr[0]!, r.blosc[0]!)]));
        return xs.some((x) => x === null) ? null : median(xs as number[]);
      };
      const anchor = (blosc as Rates[])[0]!;
      const rounded = `median of the ${bloscRounds.length} rounds' ratios`;
      lines.push(
        `  targets against ${anchor.label}, measured above:`,
        `    encode: ${crEncode2.encodeMBps.toFixed(0)} MB/s vs ${anchor.encodeMBps.toFixed(0)} MB/s: ${against(per((c, a) => c.encodeMBps / a.encodeMBps)!, 2)}${byCpu(per((c, a) => cpuOver(c.encodeCpuMsPerMiB, a.encodeCpuMsPerMiB)))} (${rounded})`,
        `    ratio:  ${crEncode2.ratio.toFixed(3)} vs ${anchor.ratio.toFixed(3)} (target ≥ its ratio: ${crEncode2.ratio >= anchor.ratio ? 'met' : 'not met'})`,
        `    decode: ${crEncode2.decodeMBps.toFixed(0)} MB/s vs ${anchor.decodeMBps.toFixed(0)} MB/s: ${against(per((c, a) => c.decodeMBps / a.decodeMBps)!, 2)}${byCpu(per((c, a) => cpuOver(c.decodeCpuMsPerMiB, a.decodeCpuMsPerMiB)))} (${rounded})`,
      );
    }
    // The same field rounded to float32, for jobs that keep single precision: no target, the
    // same comparison. Its noise is a few bits of each element rather than half of them.
    const file32 = path.join(dir, 'field.f32');
    fs.writeFileSync(file32, new Uint8Array(Float32Array.from(field).buffer));
    fs.rmSync(file);
    const f32 = joined('cr plane-coded, level 1: threads as above', crInChild(2, file32, reps, 1, 4), crInChild(1, file32, reps, 1, 4));
    const blosc32 = bloscRates(file32, reps, 4);
    const rows32 = [f32, ...(typeof blosc32 === 'string' ? [] : blosc32)];
    lines.push(`the same field rounded to float32 (${bytes / 2 / MiB} MiB), the same way:`, ...table(rows32));
    if (typeof blosc32 === 'string') lines.push(`  native Blosc: ${blosc32}`);
    else {
      const anchor = blosc32[0]!;
      lines.push(
        `  against ${anchor.label} (no target): encode ${(f32.encodeMBps / anchor.encodeMBps).toFixed(2)}×${byCpu(cpuOver(f32.encodeCpuMsPerMiB, anchor.encodeCpuMsPerMiB))}; ` +
          `decode ${(f32.decodeMBps / anchor.decodeMBps).toFixed(2)}×${byCpu(cpuOver(f32.decodeCpuMsPerMiB, anchor.decodeCpuMsPerMiB))}; ratio ${f32.ratio.toFixed(3)} vs ${anchor.ratio.toFixed(3)}`,
      );
    }
    return lines;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  const rates = await crRates(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6]));
  process.stdout.write(JSON.stringify(rates));
}
