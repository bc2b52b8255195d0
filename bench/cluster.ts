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
import { joinCluster } from '../scheduler/agent/join.js';
import { downloadImage, uploadImage } from '../scheduler/agent/transfer.js';
import { getCodec, type BlockCodec } from '../src/codec/index.js';
import { DEFAULT_BLOCK_SIZE } from '../src/image/format.js';
import { ImageWriter } from '../src/image/writer.js';
import { bundleJob } from '../scheduler/bundle.js';
import { jobImageKey } from '../scheduler/job-key.js';
import { storeJobName } from '../scheduler/names.js';
import type { ClientCredentials } from '../scheduler/credentials.js';
import { processCpuMs } from './process-cpu.js';
import { rawGrpcFloor } from './raw-grpc.js';
import { schedulerClient, TRANSFER_LANES, transferClients, unary, type SchedulerClient } from '../scheduler/proto/load.js';
import type { Assignment__Output, Command__Output } from '../scheduler/proto/types.js';
import { median } from './stats.js';

const CLI = fileURLToPath(new URL('../scheduler/cli.js', import.meta.url));
export const JOB = fileURLToPath(new URL('../../test/fixtures/cluster-job.mjs', import.meta.url));
const MiB = 1024 * 1024;
const LANES = Number(process.env.CR_TRANSFER_LANES ?? TRANSFER_LANES);
/** Transfers of each kind; the figures are the best and the median (the first also warms up both processes). */
const REPS = 5;

function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; output: () => string; ready: Promise<string> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
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
export function benchNode(client: SchedulerClient, name: string, slots: number, onAssign: (a: Assignment__Output) => void): { close: () => void; registered: Promise<Buffer> } {
  const call = client.Connect({ node: name, slots, running: [], version: 'bench' });
  let resolve!: (key: Buffer) => void;
  const registered = new Promise<Buffer>((r) => (resolve = r));
  let heartbeat: NodeJS.Timeout | null = null;
  call.on('data', (c: Command__Output) => {
    if (c.command === 'registered') {
      const session = c.registered!.session;
      heartbeat = setInterval(() => void unary(client, 'Heartbeat', { node: name, session }).catch(() => undefined), c.registered!.heartbeatIntervalMs);
      resolve(c.registered!.imageKey as Buffer);
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

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A real image of `bytes` (the scheduler verifies each before it keeps it), written as the
 * agent's runner writes it (O_DIRECT): what reads it next reads the disk, not the page cache.
 */
export async function writeImage(file: string, codec: BlockCodec, key: Buffer, at: { job: number; attempt: number; sequence: number }, bytes: Buffer): Promise<void> {
  const handle = await fs.promises.open(file, 'w', 0o600);
  try {
    const writer = new ImageWriter({ codec, key, level: 1, blockSize: DEFAULT_BLOCK_SIZE, batchBlocks: 8, writerName: 'bench' });
    await writer.write(handle, { job: storeJobName(at.job), sequence: at.sequence, attempt: at.attempt, createdAt: new Date(), meta: {} }, [{ kind: 'region', name: 'bytes', type: 'Uint8Array', elementSize: 1, data: bytes }], null, { path: file });
  } finally {
    await handle.close();
  }
}

/**
 * The real agent → scheduler path: the agent's own upload and download code, with the
 * credentials a real agent has (a token on a plain loopback scheduler, or its client
 * certificate under mutual TLS).
 */
async function transfer(dir: string, admin: SchedulerClient, agent: SchedulerClient, lanes: SchedulerClient[], code: Buffer, sizeMiB: number, label: string, schedulerPid: number): Promise<string> {
  const assigned: Assignment__Output[] = [];
  const node = benchNode(agent, 'bench-transfer', 1, (a) => assigned.push(a));
  const key = await node.registered;
  await unary(admin, 'Submit', { name: 'transfer', code, argsJson: '{}', retries: 0 });
  while (assigned.length === 0) await sleep(5);
  const { job, attempt, secret } = assigned[0]!;
  const file = path.join(dir, 'image.crimg');
  // Incompressible bytes: what is measured is the wire, not a codec.
  const codec = await getCodec();
  const bytes = randomBytes(sizeMiB * MiB);
  const ups: number[] = [];
  const downs: number[] = [];
  // CPU time of the agent (this process) and of the scheduler per transfer: on a shared machine
  // the rate depends on the load, the CPU cost per MiB much less.
  const upCpu: [number, number][] = [];
  const downCpu: [number, number][] = [];
  for (let rep = 1; rep <= REPS; rep++) {
    await writeImage(file, codec, jobImageKey(key, job), { job, attempt, sequence: rep }, bytes);
    let t = performance.now();
    let cpu = [process.cpuUsage(), processCpuMs(schedulerPid)] as const;
    const reply = await uploadImage(lanes, { job, attempt, sequence: rep, node: 'bench-transfer', secret, file });
    ups.push(performance.now() - t);
    upCpu.push([cpuSince(cpu[0]), processCpuMs(schedulerPid) - cpu[1]]);
    if (!reply.accepted) throw new Error(`upload refused: ${reply.reason}`);
    const { images } = await unary(admin, 'ListImages', { job });
    const sha = images.find((i) => i.sequence === rep)!.sha256;
    t = performance.now();
    cpu = [process.cpuUsage(), processCpuMs(schedulerPid)] as const;
    await downloadImage(lanes, job, rep, sha, path.join(dir, `down-${rep}.bin`), { attempt, secret });
    downs.push(performance.now() - t);
    downCpu.push([cpuSince(cpu[0]), processCpuMs(schedulerPid) - cpu[1]]);
    fs.rmSync(path.join(dir, `down-${rep}.bin`));
  }
  node.close();
  const best = (ms: number[]): string => rate(sizeMiB, ms);
  const cpuPerMiB = (c: [number, number][]): string => `CPU per MiB: agent ${(median(c.map((x) => x[0])) / sizeMiB).toFixed(2)} ms, scheduler ${(median(c.map((x) => x[1])) / sizeMiB).toFixed(2)} ms`;
  return (
    `image transfer, ${label}, ${sizeMiB} MiB in 1 MiB chunks (scheduler fsyncs it), ${REPS} times: upload ${best(ups)}, download ${best(downs)}\n` +
    `  upload ${cpuPerMiB(upCpu)}; download ${cpuPerMiB(downCpu)}`
  );
}

const rate = (sizeMiB: number, ms: number[]): string => `${(sizeMiB / (Math.min(...ms) / 1000)).toFixed(0)} MiB/s (median ${(sizeMiB / (median(ms) / 1000)).toFixed(0)})`;

/** grpc-js alone on the same bytes (bench/raw-grpc.ts): the floor the upload figures stand on. */
async function floor(sizeMiB: number): Promise<string> {
  const runs = await rawGrpcFloor(sizeMiB, REPS);
  const perMiB = (ms: number[]): string => (median(ms) / sizeMiB).toFixed(2);
  return (
    `grpc-js alone, plain TCP, ${sizeMiB} MiB in 1 MiB chunks to a server process that discards them, ${REPS} times: ${rate(sizeMiB, runs.map((r) => r.ms))}\n` +
    `  CPU per MiB: client ${perMiB(runs.map((r) => r.clientCpuMs))} ms, server ${perMiB(runs.map((r) => r.serverCpuMs))} ms`
  );
}

async function placement(client: SchedulerClient, agent: (node: string) => SchedulerClient, code: Buffer, jobs: number): Promise<string> {
  // Queue the jobs first (no node has free slots), then time their placement onto a node that appears.
  for (let i = 0; i < jobs; i++) await unary(client, 'Submit', { name: `tiny${i}`, code, argsJson: '{}', retries: 0 });
  let got = 0;
  let t0 = 0;
  let t1 = 0;
  const node = benchNode(agent('bench-place'), 'bench-place', jobs, () => {
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
  const loopClient = agent('bench-loop');
  const loop = benchNode(loopClient, 'bench-loop', 8, (a) => {
    void unary(loopClient, 'Finish', { job: a.job, attempt: a.attempt, outcome: 'SUCCEEDED', resultJson: '1' }).then(() => done++);
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
  const client = schedulerClient(address, { token: adminToken(path.join(dir, 'recovery')) });
  try {
    for (const name of ['r1', 'r2']) {
      const { token } = await unary(client, 'CreateToken', { role: 'agent', ttlS: 3600, label: 'bench' });
      const a = start(['agent', '--scheduler', address, '--name', name, '--slots', '1', '--work', path.join(dir, `work-${name}`)], { CR_TOKEN: token });
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

function cpuSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

function adminToken(dataDir: string): string {
  return fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
}

/** A scheduler process with an admin client, and agent credentials as a real agent has them. */
export async function cluster(dir: string, tls: boolean, images?: string): Promise<{ scheduler: ReturnType<typeof start>; address: string; admin: SchedulerClient; agent: (node: string) => ClientCredentials }> {
  const data = path.join(dir, tls ? 'data-tls' : images ? 'data-images' : 'data');
  // A long lease: the bench node heartbeats from this process, which is busy writing the images.
  const scheduler = start(['serve', '--port', '0', '--data', data, '--no-local-agent', '--lease-timeout', '60', ...(tls ? ['--tls'] : []), ...(images ? ['--images', images] : [])]);
  const address = await scheduler.ready;
  const ca = tls ? fs.readFileSync(path.join(data, 'tls', 'ca.pem'), 'utf8') : undefined;
  const admin = schedulerClient(address, { ca, token: adminToken(data) });
  const { token } = await unary(admin, 'CreateToken', { role: 'agent', ttlS: 3600, label: 'bench' });
  if (!tls) {
    // On loopback an agent token is bound to the first node name it connects as: one per node.
    const tokens = new Map<string, string>();
    for (const node of ['bench-transfer', 'bench-place', 'bench-loop']) tokens.set(node, (await unary(admin, 'CreateToken', { role: 'agent', ttlS: 3600, label: node })).token);
    return { scheduler, address, admin, agent: (node) => ({ token: tokens.get(node) ?? token }) };
  }
  // Mutual TLS: the agent joins with its token, then talks with its own client certificate.
  const joined = await joinCluster({ scheduler: address, name: 'bench-transfer', workDir: path.join(dir, 'agent-tls'), ca: ca!, token });
  return { scheduler, address, admin, agent: () => joined };
}

/** `transferOnly` (`--cluster --transfer`): the image transfer figures, nothing after them. */
export async function benchCluster(quick: boolean, transferOnly = false): Promise<void> {
  const dir = fs.mkdtempSync(path.join(process.env.CR_BENCH_DIR ?? os.tmpdir(), 'cr-bench-cluster-'));
  const sizeMiB = quick ? 64 : 256;
  const children: ChildProcess[] = [];
  try {
    const code = await bundleJob(JOB);
    const plain = await cluster(dir, false);
    children.push(plain.scheduler.child);
    console.log(`cr bench --cluster: scheduler at ${plain.address} (a separate process), ${os.cpus().length} cores, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
    console.log(await floor(sizeMiB));
    const agentClient = schedulerClient(plain.address, plain.agent('bench-transfer'));
    const lanes = transferClients(plain.address, plain.agent('bench-transfer'), LANES);
    console.log(await transfer(dir, plain.admin, agentClient, lanes, code, sizeMiB, `plain TCP + agent token, ${LANES} connection${LANES === 1 ? '' : 's'}`, plain.scheduler.child.pid!));
    agentClient.close();
    lanes.forEach((c) => c.close());
    const tls = await cluster(dir, true);
    children.push(tls.scheduler.child);
    const tlsClient = schedulerClient(tls.address, tls.agent('bench-transfer'));
    const tlsLanes = transferClients(tls.address, tls.agent('bench-transfer'), LANES);
    console.log(await transfer(dir, tls.admin, tlsClient, tlsLanes, code, sizeMiB, `mutual TLS (agent certificate), ${LANES} connection${LANES === 1 ? '' : 's'}`, tls.scheduler.child.pid!));
    tlsClient.close();
    tlsLanes.forEach((c) => c.close());
    tls.admin.close();
    tls.scheduler.child.kill('SIGKILL');
    console.log(`(load average after the transfers: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
    if (transferOnly) return;
    const clients: SchedulerClient[] = [];
    console.log(
      await placement(plain.admin, (node) => {
        const c = schedulerClient(plain.address, plain.agent(node));
        clients.push(c);
        return c;
      }, code, quick ? 200 : 1000),
    );
    for (const c of clients) c.close();
    plain.admin.close();
    console.log(await recovery(dir, 2));
  } finally {
    for (const child of children) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
