// `npm run bench -- --ha`, the image-store lines: an image written to a shared image store
// against the store's own raw speed for the same bytes, in the same run. Directory: the store's
// put (read the committed image, hash it, write a temp, fsync, link, fsync the directory) against
// a plain write of the bytes from memory + fsync into a new file beside it (through the page
// cache; the store writes with O_DIRECT where it can, as the image writer does). S3 (s3rver on
// loopback, started here in a process of its own): the store's put (hash, HEAD, multipart
// Upload) against lib-storage's Upload of the same file. Nine pairs, alternating which goes
// first: the median of the pairs' ratios; target: the store at ≥ 0.9× the raw rate.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { DirectoryStore } from '../scheduler/images/directory.js';
import { DEFAULT_PART_BYTES, PARTS_AT_ONCE, S3Store } from '../scheduler/images/s3.js';
import { objectName } from '../scheduler/images/store.js';
import { openSharedStore } from '../scheduler/images/open.js';
import { recordImage, uploadImage } from '../scheduler/agent/transfer.js';
import { bundleJob } from '../scheduler/bundle.js';
import { jobImageKey } from '../scheduler/job-key.js';
import { schedulerClient, TRANSFER_LANES, transferClients, unary } from '../scheduler/proto/load.js';
import type { Assignment__Output } from '../scheduler/proto/types.js';
import { getCodec } from '../src/codec/index.js';
import { benchNode, cluster, JOB, sleep, writeImage } from './cluster.js';
import { median } from './stats.js';
import { processCpuMs } from './process-cpu.js';

const MiB = 1 << 20;
const PAIRS = 9;

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

function plainWrite(file: string, bytes: Buffer): void {
  const fd = fs.openSync(file, 'wx', 0o600);
  try {
    for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, bytes.length - done, done);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

interface Line {
  what: string;
  bytes: number;
  rawMs: number;
  storeMs: number;
  /** Median of the pairs' raw / store ratios. */
  ratio: number;
}

/**
 * PAIRS pairs of a raw write and the store's put of the same bytes, in alternating order (on a
 * noisy machine a pair sees the same load): medians of each, and the median of the pairs' ratios.
 */
async function alternated(raw: (i: number) => Promise<number>, put: (i: number) => Promise<number>, after: (i: number) => void = () => undefined): Promise<Omit<Line, 'what' | 'bytes'>> {
  const raws: number[] = [];
  const puts: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < PAIRS; i++) {
    let r: number;
    let p: number;
    if (i % 2 === 0) {
      r = await raw(i);
      p = await put(i);
    } else {
      p = await put(i);
      r = await raw(i);
    }
    after(i);
    raws.push(r);
    puts.push(p);
    ratios.push(r / p);
  }
  return { rawMs: median(raws), storeMs: median(puts), ratio: median(ratios) };
}

async function directoryLine(dir: string, source: string, bytes: Buffer): Promise<Line> {
  const shared = path.join(dir, 'shared');
  fs.mkdirSync(shared);
  const store = DirectoryStore.open(shared);
  const pairs = await alternated(
    (i) => timed(async () => plainWrite(path.join(dir, `plain-${i}`), bytes)),
    (i) => timed(async () => void (await store.put(objectName(1, i + 1, 1), source))),
    (i) => fs.rmSync(path.join(dir, `plain-${i}`)),
  );
  return { what: `directory ${shared}`, bytes: bytes.length, ...pairs };
}

/** s3rver in a child process (bench/s3rver-process.ts); its endpoint, and how to stop it. */
async function startS3rver(objects: string): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./s3rver-process.js', import.meta.url)), objects], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = /port (\d+)\n/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    void exited.then(() => reject(new Error(`s3rver exited before listening: ${out}`)));
  });
  return { endpoint: `http://127.0.0.1:${port}`, stop: async () => (child.stdin!.end(), await exited) };
}

async function s3Line(dir: string, source: string, bytes: number): Promise<Line> {
  const objects = path.join(dir, 's3rver');
  fs.mkdirSync(objects);
  const server = await startS3rver(objects);
  const { endpoint } = server;
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' });
  const store = S3Store.open('s3://bench/store', { endpoint });
  const client = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  try {
    const pairs = await alternated(
      (i) => timed(async () => {
        const upload = new Upload({ client, params: { Bucket: 'bench', Key: `raw/${i}`, Body: fs.createReadStream(source, { highWaterMark: MiB }), ContentLength: bytes }, partSize: DEFAULT_PART_BYTES, queueSize: PARTS_AT_ONCE });
        await upload.done();
      }),
      (i) => timed(async () => void (await store.put(objectName(1, i + 1, 1), source))),
    );
    return { what: `S3 (s3rver on loopback, ${DEFAULT_PART_BYTES / MiB} MiB parts)`, bytes, ...pairs };
  } finally {
    client.destroy();
    store.close();
    await server.stop();
  }
}

/** Images per path in the scheduler-CPU lines: CPU time is counted in 10 ms ticks, so summed over several. */
const RECORDS = 5;

interface SchedulerCpu {
  /** Scheduler CPU time over RECORDS images, ms. */
  cpuMs: number;
  /** The agent's side of one image (store's put + record, or the gRPC upload), median, ms. */
  medianMs: number;
}

/**
 * The scheduler's CPU time while an agent stores RECORDS images of `sizeMiB`, each on the real
 * agent path (scheduler/agent/attempt.ts): with `--images`, the store's put and then the record
 * (the scheduler reads the image's ends from the store); without, the upload over gRPC.
 */
async function schedulerCpu(dir: string, sizeMiB: number, images: string | undefined): Promise<SchedulerCpu> {
  const { scheduler, admin, agent, address } = await cluster(dir, false, images);
  const client = schedulerClient(address, agent('bench-transfer'));
  const lanes = transferClients(address, agent('bench-transfer'), TRANSFER_LANES);
  const store = images ? await openSharedStore(images) : null;
  const assigned: Assignment__Output[] = [];
  const node = benchNode(client, 'bench-transfer', 1, (a) => assigned.push(a));
  try {
    const key = await node.registered;
    await unary(admin, 'Submit', { name: 'scheduler-cpu', code: await bundleJob(JOB), argsJson: '{}', retries: 0 });
    while (assigned.length === 0) await sleep(5);
    const { job, attempt, secret } = assigned[0]!;
    const codec = await getCodec();
    const bytes = randomBytes(sizeMiB * MiB);
    const file = path.join(dir, 'record.crimg');
    let cpuMs = 0;
    const ms: number[] = [];
    for (let sequence = 1; sequence <= RECORDS; sequence++) {
      await writeImage(file, codec, jobImageKey(key, job), { job, attempt, sequence }, bytes);
      const request = { job, attempt, sequence, node: 'bench-transfer', secret };
      const cpu0 = processCpuMs(scheduler.child.pid!);
      const t0 = performance.now();
      let reply;
      if (store) {
        const stored = await store.put(objectName(job, sequence, attempt), file);
        reply = await recordImage(client, { ...request, bytes: stored.bytes, sha256: stored.sha256 });
      } else {
        reply = await uploadImage(lanes, { ...request, file });
      }
      ms.push(performance.now() - t0);
      cpuMs += processCpuMs(scheduler.child.pid!) - cpu0;
      if (!reply.accepted) throw new Error(`image ${sequence} refused: ${reply.reason}`);
    }
    return { cpuMs, medianMs: median(ms) };
  } finally {
    node.close();
    store?.close();
    client.close();
    lanes.forEach((c) => c.close());
    admin.close();
    scheduler.child.kill('SIGKILL');
  }
}

/**
 * The scheduler's CPU per image MiB with a shared store, against the same images uploaded over
 * gRPC to a scheduler without one, in the same run. Target: the shared store's ≤ 5% of gRPC's
 * (near zero: the scheduler reads a few KiB of each image, whatever its size).
 */
async function schedulerCpuLines(dir: string, sizeMiB: number): Promise<void> {
  const shared = path.join(dir, 'shared-record');
  fs.mkdirSync(shared);
  const viaStore = await schedulerCpu(dir, sizeMiB, shared);
  const viaGrpc = await schedulerCpu(dir, sizeMiB, undefined);
  const perMiB = (c: SchedulerCpu): string => (c.cpuMs / (RECORDS * sizeMiB)).toFixed(3);
  const ratio = viaStore.cpuMs / viaGrpc.cpuMs;
  console.log(`\nthe scheduler's CPU per image MiB, ${RECORDS} images of ${sizeMiB} MiB from one agent (the bench), scheduler in its own process; target: shared store ≤ 5% of gRPC's`);
  console.log(`  --images ${shared}: ${perMiB(viaStore)} ms/MiB (${(viaStore.cpuMs / RECORDS).toFixed(0)} ms per image; the agent's put + record ${viaStore.medianMs.toFixed(0)} ms)`);
  console.log(`  no --images (upload over gRPC): ${perMiB(viaGrpc)} ms/MiB (${(viaGrpc.cpuMs / RECORDS).toFixed(0)} ms per image; the agent's upload ${viaGrpc.medianMs.toFixed(0)} ms)`);
  console.log(`  shared store / gRPC: ${(ratio * 100).toFixed(1)}% ${ratio <= 0.05 ? 'meets' : 'MISSES'} the target`);
}

export async function benchImageStore(quick: boolean): Promise<void> {
  const dir = fs.mkdtempSync(path.join(process.env.CR_BENCH_DIR ?? os.tmpdir(), 'cr-bench-images-'));
  try {
    const size = (quick ? 64 : 256) * MiB;
    // Incompressible bytes: a store moves bytes, whatever they hold.
    const bytes = randomBytes(size);
    const source = path.join(dir, 'image.crimg');
    fs.writeFileSync(source, bytes);
    console.log(`cr bench --ha, image stores: ${size / MiB} MiB image (S3: ${size / 4 / MiB} MiB), ${os.cpus().length} cores, Node ${process.version}; in ${dir}`);
    const lines = [await directoryLine(dir, source, bytes)];
    const s3Source = path.join(dir, 'image-s3.crimg');
    fs.writeFileSync(s3Source, bytes.subarray(0, size / 4));
    lines.push(await s3Line(dir, s3Source, size / 4));
    const header = ['store', 'MiB', 'raw ms', 'raw MiB/s', 'store ms', 'store MiB/s', 'store / raw (median of pairs)'];
    const cells = lines.map((l) => [l.what, String(l.bytes / MiB), l.rawMs.toFixed(0), (l.bytes / MiB / (l.rawMs / 1000)).toFixed(0), l.storeMs.toFixed(0), (l.bytes / MiB / (l.storeMs / 1000)).toFixed(0), `${l.ratio.toFixed(2)}×`]);
    const widths = header.map((h, c) => Math.max(h.length, ...cells.map((r) => r[c]!.length)));
    const line = (r: string[]): string => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
    console.log('raw: directory = write from memory + fsync into a new file; S3 = lib-storage Upload of the same file. store: the shared store\'s put. Target ≥ 0.90×.');
    console.log(line(header));
    console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
    for (const r of cells) console.log(line(r));
    await schedulerCpuLines(dir, quick ? 64 : 256);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
