// `npm run bench -- --scaling`: how a checkpoint's costs grow. Pause, commit (call to durable
// image) and restart (latest image found, verified and decoded into new memory) against region
// size, number of regions of the same total, number of small objects in one state, number of
// states, and team size. Prints a table with the growth exponent of each step (1: linear) and
// draws the curves with Vega-Lite into an SVG (`--plot FILE`, default scaling.svg).
//
// Regions use the capture a job gets by default (copy-on-write where it pays). Sizes that do not
// fit this machine's free memory twice over (the job's region and the restart's) are skipped and
// say so, as are object counts the V8 heap limit cannot hold three times (state, serialized copy,
// restored copy).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import type { BlockCodec } from '../src/codec/types.js';
import type { JobContext } from '../src/job/context.js';
import { LocalStore } from '../src/store/local-store.js';
import { fillSmoothField, smallObjects } from './data.js';
import { checkpointAndRestart, GiB, loadLatest, MiB, newContext, take } from './measure.js';
import { median } from './stats.js';

export interface Point {
  dimension: string;
  x: number;
  label: string;
  pauseMs: number;
  commitMs: number;
  restartMs: number;
}

interface Skip {
  dimension: string;
  label: string;
  why: string;
}

/** Steps above this exponent (time ratio against size ratio, on a log scale) are called out. */
const SUPERLINEAR = 1.25;
/** Steps whose times are both below this are too small to judge: timer and scheduling noise dominate. */
const NOISE_FLOOR_MS = 5;

const sizeLabel = (bytes: number): string => (bytes >= GiB ? `${bytes / GiB} GiB` : `${bytes / MiB} MiB`);
const countLabel = (n: number): string => (n >= 1000 ? n.toExponential(0).replace('e+', 'e') : String(n));

/** Checkpoints `reps` times (after two unmeasured), restarting after each; medians. */
async function measure(codec: BlockCodec, store: LocalStore, job: string, ctx: JobContext, reps: number, check: (again: JobContext) => void): Promise<Omit<Point, 'dimension' | 'x' | 'label'>> {
  // Two unmeasured: the first makes the writer thread warm the staging memory it needs (where the
  // staging budget allows; above it the image is written from the job's memory, never staged).
  for (let w = 0; w < 2; w++) await take(ctx);
  const { infos, restarts } = await checkpointAndRestart(codec, store, job, ctx, reps, check);
  return { pauseMs: median(infos.map((i) => i.pauseMs)), commitMs: median(infos.map((i) => i.totalMs)), restartMs: median(restarts) };
}

async function regionSizes(codec: BlockCodec, dir: string, sizes: number[], points: Point[], skips: Skip[]): Promise<void> {
  for (const bytes of sizes) {
    const dimension = 'region size, MiB';
    // The region, and the restart's copy of it, resident at once; copy-on-write keeps a few blocks.
    if (os.freemem() < 2.2 * bytes) {
      skips.push({ dimension, label: sizeLabel(bytes), why: `${(os.freemem() / GiB).toFixed(1)} GiB free, ${((2.2 * bytes) / GiB).toFixed(1)} GiB needed` });
      continue;
    }
    const store = LocalStore.open({ dir: path.join(dir, `size-${bytes}`), keepImages: 1 });
    const job = 'size';
    const ctx = newContext(codec, store, job, { capture: 'auto' });
    let field: Float64Array;
    try {
      field = ctx.region('field', Float64Array, bytes / 8);
    } catch (err) {
      // Node 20 exposes at most 4 GiB as one ArrayBuffer: a larger state is several regions.
      skips.push({ dimension, label: sizeLabel(bytes), why: (err as Error).message });
      await ctx.close();
      continue;
    }
    fillSmoothField(field);
    const m = await measure(codec, store, job, ctx, bytes > GiB ? 1 : 3, (again) => {
      if (again.region('field', Float64Array, bytes / 8)[bytes / 16] !== field[bytes / 16]) throw new Error('restore mismatch');
    });
    await ctx.close();
    fs.rmSync(path.join(dir, `size-${bytes}`), { recursive: true, force: true });
    points.push({ dimension, x: bytes / MiB, label: sizeLabel(bytes), ...m });
  }
}

async function regionCounts(codec: BlockCodec, dir: string, total: number, counts: number[], points: Point[]): Promise<void> {
  for (const count of counts) {
    const store = LocalStore.open({ dir: path.join(dir, `count-${count}`), keepImages: 1 });
    const job = 'regions';
    const ctx = newContext(codec, store, job, { capture: 'auto' });
    const length = Math.floor(total / 8 / count);
    const regions: Float64Array[] = [];
    for (let i = 0; i < count; i++) {
      const r = ctx.region(`r${i}`, Float64Array, length);
      fillSmoothField(r, 1e-6, i + 1);
      regions.push(r);
    }
    const m = await measure(codec, store, job, ctx, 3, (again) => {
      for (let i = 0; i < count; i += Math.max(1, Math.floor(count / 7))) {
        if (again.region(`r${i}`, Float64Array, length)[length >> 1] !== regions[i]![length >> 1]) throw new Error('restore mismatch');
      }
    });
    await ctx.close();
    fs.rmSync(path.join(dir, `count-${count}`), { recursive: true, force: true });
    points.push({ dimension: `regions, ${sizeLabel(total)} in all`, x: count, label: countLabel(count), ...m });
  }
}

async function objectCounts(codec: BlockCodec, dir: string, counts: number[], points: Point[], skips: Skip[]): Promise<void> {
  const limit = v8.getHeapStatistics().heap_size_limit;
  for (const count of counts) {
    const dimension = 'small objects in one state';
    // About 200 bytes of heap per object, three times: the state, its serialized copy, the restored state.
    if (count * 200 * 3 > limit) {
      skips.push({ dimension, label: countLabel(count), why: `V8's heap limit here is ${(limit / GiB).toFixed(1)} GiB; run with NODE_OPTIONS=--max-old-space-size=${Math.ceil((count * 200 * 4) / MiB)}` });
      continue;
    }
    const store = LocalStore.open({ dir: path.join(dir, `objects-${count}`), keepImages: 1 });
    const job = 'objects';
    const ctx = newContext(codec, store, job);
    ctx.state('particles', smallObjects(count));
    const m = await measure(codec, store, job, ctx, count >= 1e7 ? 1 : 3, (again) => {
      if (again.state('particles', [] as unknown[]).length !== count) throw new Error('restore mismatch');
    });
    await ctx.close();
    fs.rmSync(path.join(dir, `objects-${count}`), { recursive: true, force: true });
    points.push({ dimension, x: count, label: countLabel(count), ...m });
  }
}

async function stateCounts(codec: BlockCodec, dir: string, counts: number[], points: Point[]): Promise<void> {
  for (const count of counts) {
    const store = LocalStore.open({ dir: path.join(dir, `states-${count}`), keepImages: 1 });
    const job = 'states';
    const ctx = newContext(codec, store, job);
    for (let i = 0; i < count; i++) ctx.state(`s${i}`, { step: i, name: `state ${i}`, position: [i, i / 2, -i] });
    const m = await measure(codec, store, job, ctx, 3, (again) => {
      const last = again.state(`s${count - 1}`, { step: -1 }) as { step: number };
      if (last.step !== count - 1) throw new Error('restore mismatch');
    });
    await ctx.close();
    fs.rmSync(path.join(dir, `states-${count}`), { recursive: true, force: true });
    points.push({ dimension: 'states', x: count, label: countLabel(count), ...m });
  }
}

interface MetricsLine {
  event: string;
  at: string;
  pause_ms?: number;
  commit_ms?: number;
}

/** Runs the CLI; resolves with its metrics file's lines. */
function runCli(args: string[], metricsFile: string): Promise<MetricsLine[]> {
  const cli = fileURLToPath(new URL('../scheduler/cli.js', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'run', ...args, '--metrics-file', metricsFile, '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`cr-scheduler run ${args.join(' ')} exited ${code}: ${stderr.trim()}`));
      const lines = fs.readFileSync(metricsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as MetricsLine);
      resolve(lines);
    });
  });
}

/**
 * A team job (examples/heat2d-team.mjs, two n×n float64 grids shared by the members) through the
 * real CLI: its checkpoints' pause and commit from the metrics file (medians; the first, which
 * warms staging memory, left out). Restart as for the other rows: its last image found,
 * verified and decoded into new memory (the grids and every member's state), median of three.
 */
async function teamSizes(codec: BlockCodec, dir: string, n: number, members: number[], points: Point[]): Promise<void> {
  const example = fileURLToPath(new URL('../../examples/heat2d-team.mjs', import.meta.url));
  for (const size of members) {
    const storeDir = path.join(dir, `team-${size}`);
    const args = ['--args', JSON.stringify({ n, steps: 60, members: size }), '--every', '10', '--full-every', '1', '--interval', '3600', '--keep', '1'];
    const lines = await runCli([example, ...args, '--store', storeDir], path.join(dir, `team-${size}.jsonl`));
    const checkpoints = lines.filter((l) => l.event === 'checkpoint').slice(1);
    if (checkpoints.length === 0) throw new Error(`the team of ${size} took fewer than two checkpoints`);
    const store = LocalStore.open({ dir: storeDir, keepImages: 1 });
    const restarts: number[] = [];
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      const loaded = loadLatest(codec, store, 'heat2d-team');
      restarts.push(performance.now() - t0);
      if (loaded === null) throw new Error(`the team of ${size} left no image to restart from`);
      loaded.close();
    }
    fs.rmSync(storeDir, { recursive: true, force: true });
    points.push({
      dimension: `team members, 2 grids of ${n}²`,
      x: size,
      label: String(size),
      pauseMs: median(checkpoints.map((c) => c.pause_ms!)),
      commitMs: median(checkpoints.map((c) => c.pause_ms! + c.commit_ms!)),
      restartMs: median(restarts),
    });
  }
}

/** ln(Δy)/ln(Δx) between neighbouring points of a dimension: 1 is linear, 0 flat. */
export function exponent(a: { x: number; y: number }, b: { x: number; y: number }): number | null {
  if (a.y < NOISE_FLOOR_MS && b.y < NOISE_FLOOR_MS) return null;
  return Math.log(b.y / Math.max(a.y, 1e-3)) / Math.log(b.x / a.x);
}

function printTable(points: Point[], skips: Skip[]): string[] {
  const header = ['dimension', 'at', 'pause ms', 'commit ms', 'restart ms', 'growth (pause/commit/restart)'];
  const fmt = (ms: number): string => (ms < 10 ? ms.toFixed(2) : ms.toFixed(0));
  const faster: string[] = [];
  const rows = points.map((p, i) => {
    const prev = points[i - 1]?.dimension === p.dimension ? points[i - 1]! : null;
    const growth = prev
      ? (['pauseMs', 'commitMs', 'restartMs'] as const)
          .map((k) => {
            const e = exponent({ x: prev.x, y: prev[k] }, { x: p.x, y: p[k] });
            if (e !== null && e > SUPERLINEAR) faster.push(`${k.replace('Ms', '')} of ${p.dimension}, ${prev.label} → ${p.label}: exponent ${e.toFixed(2)}`);
            return e === null ? '–' : e.toFixed(2);
          })
          .join(' / ')
      : '';
    return [p.dimension, p.label, fmt(p.pauseMs), fmt(p.commitMs), fmt(p.restartMs), growth];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i < 2 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  for (const s of skips) console.log(`skipped: ${s.dimension} at ${s.label}: ${s.why}`);
  return faster;
}

/** The curves, one panel per dimension, log–log, drawn by Vega-Lite into an SVG. */
export async function plot(points: Point[], file: string): Promise<void> {
  const vega = await import('vega');
  const vegaLite = await import('vega-lite');
  const values = points.flatMap((p) =>
    (['pause', 'commit', 'restart'] as const).map((measureName) => ({ dimension: p.dimension, x: p.x, label: p.label, measure: measureName, ms: Math.max(0.01, p[`${measureName}Ms`]) })),
  );
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'cr: checkpoint costs as the state grows (log–log)',
    data: { values },
    facet: { field: 'dimension', type: 'nominal', title: null, sort: [...new Set(points.map((p) => p.dimension))] },
    columns: 3,
    resolve: { scale: { x: 'independent', y: 'independent' } },
    spec: {
      width: 260,
      height: 180,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'x', type: 'quantitative', scale: { type: 'log', nice: false }, title: null },
        y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'ms' },
        color: { field: 'measure', type: 'nominal', title: null, sort: ['pause', 'commit', 'restart'], legend: { orient: 'top' } },
        tooltip: [{ field: 'label' }, { field: 'measure' }, { field: 'ms', format: '.1f' }],
      },
    },
  };
  const compiled = vegaLite.compile(spec as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, svg);
  fs.renameSync(temp, file);
}

/** `statesOnly`: only the number of states (`--scaling --states`), the other dimensions skipped. */
export async function benchScaling(codec: BlockCodec, dir: string, quick: boolean, plotFile: string, statesOnly = false): Promise<void> {
  console.log(`cr bench --scaling: ${codec.description}; ${os.cpus().length} cores, ${(os.totalmem() / GiB).toFixed(0)} GiB, Node ${process.version}${quick ? ' (--quick)' : ''}`);
  console.log('pause = call to checkpoint() until it resolves; commit = call until the image is durable; restart = latest image found, verified and decoded into new memory');
  console.log('growth = log(time ratio) / log(size ratio) from the row above: 1 is linear, 0 flat; – where both times are under 5 ms\n');
  const points: Point[] = [];
  const skips: Skip[] = [];
  if (!statesOnly) {
    await regionSizes(codec, dir, quick ? [16 * MiB, 64 * MiB, 256 * MiB] : [64 * MiB, 256 * MiB, GiB, 4 * GiB, 8 * GiB], points, skips);
    await regionCounts(codec, dir, quick ? 64 * MiB : 256 * MiB, quick ? [1, 10, 100] : [1, 10, 100, 1000], points);
    await objectCounts(codec, dir, quick ? [1e3, 1e4, 1e5] : [1e3, 1e4, 1e5, 1e6, 1e7], points, skips);
  }
  await stateCounts(codec, dir, quick ? [10, 100, 1000] : [10, 100, 1000, 10_000, 100_000], points);
  if (!statesOnly) await teamSizes(codec, dir, quick ? 512 : 2048, quick ? [1, 2, 4] : [1, 2, 4, 8], points);
  const faster = printTable(points, skips);
  console.log(faster.length === 0 ? '\nno step grows faster than linearly (exponent above 1.25)' : `\ngrows faster than linearly (exponent above 1.25):\n${faster.map((f) => `  ${f}`).join('\n')}`);
  await plot(points, plotFile);
  console.log(`\nplot: ${path.resolve(plotFile)}`);
}
