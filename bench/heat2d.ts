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

/** The middle value; the mean of the two middle ones for an even count. */
function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function benchHeat2d(dir: string, options: { n: number; steps: number; interval: number; pairs: number }): string {
  const args = { n: options.n, steps: options.steps };
  const off: number[] = [];
  const on: Run[] = [];
  // Alternated off, on, off, on...
  for (let p = 0; p < options.pairs; p++) {
    off.push(run(dir, args, 1e9).seconds);
    on.push(run(dir, args, options.interval));
  }
  // Each pair ran back to back, so its ratio cancels most of the machine's drift between pairs.
  const slowdowns = on.map((r, i) => 100 * (r.seconds / off[i]! - 1));
  const gib = (2 * options.n * options.n * 8) / 2 ** 30;
  return (
    `heat2d n=${options.n} (${gib >= 1 ? `${gib.toFixed(2)} GiB` : `${(gib * 1024).toFixed(0)} MiB`} in two grids), ${options.steps} steps, ` +
    `checkpoints every ${options.interval} s (${on.map((r) => r.checkpoints).join('/')} images) vs off: ` +
    `${median(slowdowns).toFixed(1)}% slower (median of ${options.pairs} back-to-back pairs: ` +
    `${on.map((r, i) => `${off[i]!.toFixed(1)} s → ${r.seconds.toFixed(1)} s, ${slowdowns[i]! >= 0 ? '+' : ''}${slowdowns[i]!.toFixed(1)}%`).join('; ')}) (target ≤ 3%)`
  );
}
