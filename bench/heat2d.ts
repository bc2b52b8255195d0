// A real job's slowdown from checkpointing: examples/heat2d.mjs run by `cr-scheduler run` with
// checkpoints every `interval` seconds, against the same run with checkpoints switched off (an
// interval no run reaches), alternated (off, on, off, on...) so that the shared machine's noise
// falls on both alike. Wall time of the whole command, start and restore-free exit included.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'scheduler', 'cli.js');
const job = path.join(root, 'examples', 'heat2d.mjs');

interface Run {
  seconds: number;
  checkpoints: number;
}

function run(dir: string, args: { n: number; steps: number }, interval: number): Run {
  const store = path.join(dir, `heat2d-store-${interval}`);
  fs.rmSync(store, { recursive: true, force: true });
  const t0 = performance.now();
  const child = spawnSync(
    process.execPath,
    [cli, 'run', job, '--args', JSON.stringify(args), '--interval', String(interval), '--store', store, '--no-progress', '--verbose'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 },
  );
  if (child.status !== 0) throw new Error(`heat2d run failed (${child.status}): ${child.stderr}`);
  const out = `${child.stdout}\n${child.stderr}`;
  const seconds = (performance.now() - t0) / 1000;
  fs.rmSync(store, { recursive: true, force: true });
  return { seconds, checkpoints: (out.match(/^checkpoint heat2d-/gm) ?? []).length };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function benchHeat2d(dir: string, options: { n: number; steps: number; interval: number; pairs: number }): string {
  const args = { n: options.n, steps: options.steps };
  const off: number[] = [];
  const on: Run[] = [];
  for (let p = 0; p < options.pairs; p++) {
    off.push(run(dir, args, 1e9).seconds);
    on.push(run(dir, args, options.interval));
  }
  const offS = median(off);
  const onS = median(on.map((r) => r.seconds));
  const gib = (2 * options.n * options.n * 8) / 2 ** 30;
  return (
    `heat2d n=${options.n} (${gib >= 1 ? `${gib.toFixed(2)} GiB` : `${(gib * 1024).toFixed(0)} MiB`} in two grids), ${options.steps} steps: ` +
    `checkpoints off ${offS.toFixed(1)} s, every ${options.interval} s ${onS.toFixed(1)} s (${on.map((r) => r.checkpoints).join('/')} images): ` +
    `${(100 * (onS / offS - 1)).toFixed(1)}% slower (target ≤ 3%; medians of ${options.pairs} alternated pairs: off ${off.map((s) => s.toFixed(1)).join(', ')}; on ${on.map((r) => r.seconds.toFixed(1)).join(', ')})`
  );
}
