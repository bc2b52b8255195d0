// `npm run bench -- --cluster`: the cluster's figures, against a real scheduler process on
// loopback. Upload/download throughput of one image over gRPC, placement throughput for tiny
// jobs (a bench "node" with many slots that takes assignments off its stream), and the time from
// an agent's SIGKILL until its job computes again on another node.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { downloadImage, uploadImage } from '../scheduler/agent/transfer.js';
import { bundleJob } from '../scheduler/bundle.js';
import { schedulerClient, unary, type SchedulerClient } from '../scheduler/proto/load.js';
import type { Assignment__Output, Command__Output } from '../scheduler/proto/types.js';

const CLI = fileURLToPath(new URL('../scheduler/cli.js', import.meta.url));
const JOB = fileURLToPath(new URL('../../test/fixtures/cluster-job.mjs', import.meta.url));
const MiB = 1024 * 1024;

function start(args: string[]): { child: ChildProcess; output: () => string; ready: Promise<string> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /listening on (\S+)\n|(registered with the scheduler)/.exec(out);
      if (m) {
        clearInterval(timer);
        resolve(m[1] ?? m[2]!);
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`exited: ${out}`));
      }
    }, 10);
  });
  return { child, output: () => out, ready };
}

/** A node run by the bench itself: it connects and collects its assignments. */
function benchNode(client: SchedulerClient, name: string, slots: number, onAssign: (a: Assignment__Output) => void): { close: () => void; registered: Promise<void> } {
  const call = client.Connect({ node: name, slots, running: [], version: 'bench' });
  let resolve!: () => void;
  const registered = new Promise<void>((r) => (resolve = r));
  let heartbeat: NodeJS.Timeout | null = null;
  call.on('data', (c: Command__Output) => {
    if (c.command === 'registered') {
      const session = c.registered!.session;
      heartbeat = setInterval(() => void unary(client, 'Heartbeat', { node: name, session }).catch(() => undefined), c.registered!.heartbeatIntervalMs);
      resolve();
    }
    else if (c.command === 'assign') onAssign(c.assign!);
  });
  call.on('error', () => undefined);
  return {
    close: () => {
      if (heartbeat) clearInterval(heartbeat);
      call.cancel();
    },
    registered,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function transfer(dir: string, client: SchedulerClient, code: Buffer, sizeMiB: number): Promise<string> {
  const assigned: Assignment__Output[] = [];
  const node = benchNode(client, 'bench-transfer', 1, (a) => assigned.push(a));
  await node.registered;
  await unary(client, 'Submit', { name: 'transfer', code, argsJson: '{}', retries: 0 });
  while (assigned.length === 0) await sleep(5);
  const { job, attempt } = assigned[0]!;
  const file = path.join(dir, 'image.bin');
  // Incompressible bytes: what is measured is the wire, not a codec.
  const fd = fs.openSync(file, 'w');
  for (let i = 0; i < sizeMiB; i++) fs.writeSync(fd, randomBytes(MiB));
  fs.closeSync(fd);
  const ups: number[] = [];
  const downs: number[] = [];
  for (let rep = 1; rep <= 3; rep++) {
    let t = performance.now();
    const reply = await uploadImage(client, { job, attempt, sequence: rep, node: 'bench-transfer', file });
    ups.push(performance.now() - t);
    if (!reply.accepted) throw new Error(`upload refused: ${reply.reason}`);
    const { images } = await unary(client, 'ListImages', { job });
    const sha = images.find((i) => i.sequence === rep)!.sha256;
    t = performance.now();
    await downloadImage(client, job, rep, sha, path.join(dir, `down-${rep}.bin`));
    downs.push(performance.now() - t);
    fs.rmSync(path.join(dir, `down-${rep}.bin`));
  }
  node.close();
  const best = (ms: number[]): string => `${(sizeMiB / (Math.min(...ms) / 1000)).toFixed(0)} MiB/s (median ${(sizeMiB / (median(ms) / 1000)).toFixed(0)})`;
  return `image transfer, ${sizeMiB} MiB in 1 MiB chunks (scheduler fsyncs it): upload ${best(ups)}, download ${best(downs)}`;
}

async function placement(client: SchedulerClient, code: Buffer, jobs: number): Promise<string> {
  // Queue the jobs first (no node has free slots), then time their placement onto a node that appears.
  for (let i = 0; i < jobs; i++) await unary(client, 'Submit', { name: `tiny${i}`, code, argsJson: '{}', retries: 0 });
  let got = 0;
  let t0 = 0;
  let t1 = 0;
  const node = benchNode(client, 'bench-place', jobs, () => {
    if (++got === jobs) t1 = performance.now();
  });
  t0 = performance.now();
  await node.registered;
  while (got < jobs) await sleep(1);
  node.close();
  const burst = jobs / ((t1 - t0) / 1000);

  // The loop a cluster of tiny jobs runs: placed, finished at once by the node, the next placed.
  for (let i = 0; i < jobs; i++) await unary(client, 'Submit', { name: `loop${i}`, code, argsJson: '{}', retries: 0 });
  let done = 0;
  const start = performance.now();
  const loop = benchNode(client, 'bench-loop', 8, (a) => {
    void unary(client, 'Finish', { job: a.job, attempt: a.attempt, outcome: 'SUCCEEDED', resultJson: '1' }).then(() => done++);
  });
  while (done < jobs) await sleep(1);
  const cycle = jobs / ((performance.now() - start) / 1000);
  loop.close();
  return `placement: ${jobs} queued jobs onto a new node in ${(t1 - t0).toFixed(0)} ms = ${burst.toFixed(0)} jobs/s; place → finish → place on 8 slots: ${cycle.toFixed(0)} jobs/s (target ≥ 200 jobs/s)`;
}

async function recovery(dir: string, leaseS: number): Promise<string> {
  const scheduler = start(['serve', '--port', '0', '--data', path.join(dir, 'recovery'), '--no-local-agent', '--lease-timeout', String(leaseS)]);
  const address = await scheduler.ready;
  const agents = new Map<string, ReturnType<typeof start>>();
  const client = schedulerClient(address);
  try {
    for (const name of ['r1', 'r2']) {
      const a = start(['agent', '--scheduler', address, '--name', name, '--slots', '1', '--work', path.join(dir, `work-${name}`)]);
      await a.ready;
      agents.set(name, a);
    }
    const code = await bundleJob(JOB);
    const { id } = await unary(client, 'Submit', { name: 'recover', code, argsJson: JSON.stringify({ steps: 100000, stepMs: 2, length: 1 << 20 }), intervalMs: 500, retries: 0 });
    let job = await unary(client, 'GetJob', { job: id });
    while (job.state !== 'running' || job.images < 2) {
      await sleep(50);
      job = await unary(client, 'GetJob', { job: id });
    }
    const killed = performance.now();
    agents.get(job.node)!.child.kill('SIGKILL');
    const before = job.progress;
    let placedAt = 0;
    for (;;) {
      const j = await unary(client, 'GetJob', { job: id });
      if (j.attempt === 2 && placedAt === 0) placedAt = performance.now();
      if (j.attempt === 2 && j.progress > before) break;
      await sleep(10);
    }
    const computing = performance.now();
    const imageMiB = ((await unary(client, 'ListImages', { job: id })).images.at(-1)?.bytes ?? 0) / MiB;
    return (
      `recovery: SIGKILL of the agent → job placed on the other node after ${((placedAt - killed) / 1000).toFixed(2)} s, ` +
      `computing again (progress reported past the image) after ${((computing - killed) / 1000).toFixed(2)} s; lease ${leaseS} s, image ${imageMiB.toFixed(1)} MiB ` +
      '(progress is reported every 200 ms)'
    );
  } finally {
    client.close();
    for (const a of agents.values()) a.child.kill('SIGKILL');
    scheduler.child.kill('SIGKILL');
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function benchCluster(quick: boolean): Promise<void> {
  const dir = fs.mkdtempSync(path.join(process.env.CR_BENCH_DIR ?? os.tmpdir(), 'cr-bench-cluster-'));
  const scheduler = start(['serve', '--port', '0', '--data', path.join(dir, 'data'), '--no-local-agent']);
  try {
    const address = await scheduler.ready;
    console.log(`cr bench --cluster: scheduler at ${address} (a separate process), ${os.cpus().length} cores, Node ${process.version}\n`);
    const client = schedulerClient(address);
    const code = await bundleJob(JOB);
    console.log(await transfer(dir, client, code, quick ? 64 : 256));
    console.log(await placement(client, code, quick ? 200 : 1000));
    client.close();
    console.log(await recovery(dir, 2));
  } finally {
    scheduler.child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
