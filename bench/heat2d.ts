// A real job's cost of checkpointing: examples/heat2d.mjs run by `cr-scheduler run` with
// checkpoints every `interval` seconds, against the same run with checkpoints switched off (an
// interval no run reaches), alternated (off, on, off, on...) so that the shared machine's noise
// falls on both alike. Two measures: the wall time of the whole command, and the extra CPU time
// per image, user and system, by thread: this machine measures CPU time far more steadily than
// wall time. The process's total is exact (its CPU as a waited-for child); the split by thread
// comes from sampling /proc/PID/task every 50 ms, and what it cannot attribute (threads that
// ended between samples, the last 50 ms) is counted under "other". The extra system time per
// image is given twice: spread over the run's images, and between its first and last image, which
// leaves out what an attempt pays once (the first touch of its staging memory, which on this
// virtual machine costs as much as the host's backing of fresh pages).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { endedChildrenCpu, threadsCpu, type Cpu, type ThreadCpu } from './process-cpu.js';
import { median } from './stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'scheduler', 'cli.js');
const job = path.join(root, 'examples', 'heat2d.mjs');
const SAMPLE_MS = 50;

/** The threads' groups, by the names cr gives them; anything else is "other". */
const GROUPS: [string, RegExp][] = [
  ['job thread', /^cr-job$/],
  ['writer', /^cr-writer$/],
  // Encoding in the background (cr-bg-N), and encoding a checkpoint the job waits for (cr-pool-N).
  ['addon pools', /^cr-(bg|pool)-/],
  ['copy-on-write', /^cr-cow/],
];
const OTHER = 'other';
const NAMES = [...GROUPS.map(([name]) => name), OTHER, 'all'];

interface Run {
  seconds: number;
  checkpoints: number;
  /** CPU time by group, and 'all'. */
  cpu: Map<string, Cpu>;
  /** System CPU of all threads from the first image's log line to the last one's, per image between them; null under two images. */
  steadySysMs: number | null;
}

function groupOf(thread: ThreadCpu): string {
  return GROUPS.find(([, re]) => re.test(thread.name))?.[0] ?? OTHER;
}

async function run(dir: string, args: { n: number; steps: number }, interval: number): Promise<Run> {
  const store = path.join(dir, `heat2d-store-${interval}`);
  fs.rmSync(store, { recursive: true, force: true });
  const before = endedChildrenCpu();
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [cli, 'run', job, '--args', JSON.stringify(args), '--interval', String(interval), '--store', store, '--no-progress', '--verbose'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const threads = new Map<number, ThreadCpu>();
  const sample = (): void => {
    for (const thread of threadsCpu(child.pid!)) threads.set(thread.tid, thread);
  };
  let out = '';
  /** Threads' system CPU when each image's line arrived (it is logged once the image is durable). */
  const atImages: number[] = [];
  const onOutput = (d: string): void => {
    out += d;
    const images = (out.match(/^checkpoint heat2d-/gm) ?? []).length;
    if (images === atImages.length) return;
    sample();
    const sys = [...threads.values()].reduce((sum, thread) => sum + thread.sysMs, 0);
    while (atImages.length < images) atImages.push(sys);
  };
  child.stdout.setEncoding('utf8').on('data', onOutput);
  child.stderr.setEncoding('utf8').on('data', onOutput);
  const timer = setInterval(sample, SAMPLE_MS);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c));
  });
  clearInterval(timer);
  const seconds = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`heat2d run failed (${code}): ${out}`);
  fs.rmSync(store, { recursive: true, force: true });
  const after = endedChildrenCpu();
  const all = { userMs: after.userMs - before.userMs, sysMs: after.sysMs - before.sysMs };
  const cpu = new Map<string, Cpu>(NAMES.map((name) => [name, { userMs: 0, sysMs: 0 }]));
  for (const thread of threads.values()) {
    const sum = cpu.get(groupOf(thread))!;
    sum.userMs += thread.userMs;
    sum.sysMs += thread.sysMs;
  }
  // "other" is what the named groups leave of the exact total: sampled threads of other names, and
  // threads that ended between samples.
  const named = GROUPS.map(([name]) => cpu.get(name)!);
  const of = (kind: keyof Cpu): number => all[kind] - named.reduce((sum, c) => sum + c[kind], 0);
  cpu.set(OTHER, { userMs: of('userMs'), sysMs: of('sysMs') });
  cpu.set('all', all);
  const steadySysMs = atImages.length < 2 ? null : (atImages.at(-1)! - atImages[0]!) / (atImages.length - 1);
  return { seconds, checkpoints: atImages.length, cpu, steadySysMs };
}

/** System CPU per GiB of region per image that the issue's target allows on heat2d. */
const SYS_MS_PER_GIB_IMAGE_TARGET = 60;

export async function benchHeat2d(dir: string, options: { n: number; steps: number; interval: number; pairs: number }): Promise<string[]> {
  const args = { n: options.n, steps: options.steps };
  const off: Run[] = [];
  const on: Run[] = [];
  // Alternated off, on, off, on...
  for (let p = 0; p < options.pairs; p++) {
    off.push(await run(dir, args, 1e9));
    on.push(await run(dir, args, options.interval));
  }
  // Each pair ran back to back, so its ratio cancels most of the machine's drift between pairs.
  const slowdowns = on.map((r, i) => 100 * (r.seconds / off[i]!.seconds - 1));
  const gib = (2 * options.n * options.n * 8) / 2 ** 30;
  /** The median over the pairs of a group's extra CPU per image (user or system). */
  const perImage = (group: string, kind: keyof Cpu): number =>
    median(on.map((r, i) => (r.cpu.get(group)![kind] - off[i]!.cpu.get(group)![kind]) / Math.max(1, r.checkpoints)));
  const ms = (v: number): string => v.toFixed(0);
  const sysPerGib = perImage('all', 'sysMs') / gib;
  const steady = on.flatMap((r) => (r.steadySysMs === null ? [] : [r.steadySysMs]));
  const steadyPerGib = steady.length === 0 ? null : median(steady) / gib;
  return [
    `heat2d n=${options.n} (${gib >= 1 ? `${gib.toFixed(2)} GiB` : `${(gib * 1024).toFixed(0)} MiB`} in two grids), ${options.steps} steps, ` +
      `checkpoints every ${options.interval} s (${on.map((r) => r.checkpoints).join('/')} images) vs off`,
    `  wall time: ${median(slowdowns).toFixed(1)}% slower (median of ${options.pairs} back-to-back pairs: ` +
      `${on.map((r, i) => `${off[i]!.seconds.toFixed(1)} s → ${r.seconds.toFixed(1)} s, ${slowdowns[i]! >= 0 ? '+' : ''}${slowdowns[i]!.toFixed(1)}%`).join('; ')}) (target ≤ 3%)`,
    `  extra CPU per image, user / system ms (median of the pairs): ${NAMES.map((g) => `${g} ${ms(perImage(g, 'userMs'))} / ${ms(perImage(g, 'sysMs'))}`).join(', ')}`,
    `  system CPU per GiB of region per image: ${sysPerGib.toFixed(0)} ms over the run (target ≤ ${SYS_MS_PER_GIB_IMAGE_TARGET} ms); ` +
      (steadyPerGib === null ? 'fewer than two images in a run, so none between images' : `${steadyPerGib.toFixed(0)} ms between the first and the last image, without what an attempt pays once`),
  ];
}
