// A full disk during a checkpoint: the checkpoint fails with CheckpointError saying the disk is
// full, the job keeps running, the previous image stays the latest and verifies, no temp file is
// left, and the next checkpoint succeeds once space returns. Twice over: on a small tmpfs this
// test mounts (the kernel's own ENOSPC, whatever writes the image), skipped with the reason when
// mounting is refused; and with ENOSPC injected at the file handles the store opens, which needs
// no privilege. Written against public behaviour (cr-scheduler run, JobContext, LocalStore.commit)
// so that it holds whatever the checkpoint pipeline looks like inside.
import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { getCodec } from '../../src/codec/index.js';
import { CheckpointError } from '../../src/errors.js';
import { ImageWriter } from '../../src/image/writer.js';
import { JobContext } from '../../src/job/context.js';
import { resolvePolicyOptions } from '../../src/policy.js';
import { RestoredImage } from '../../src/restore.js';
import { LocalStore } from '../../src/store/local-store.js';
import { FIXTURES, mountSmallFs, runCli, show, tempDir, uninterruptedResult, unmount } from './helpers.js';

const FILLER_JOB = path.join(FIXTURES, 'disk-filler-job.mjs');
const MiB = 1024 * 1024;
const FULL = /disk is full \(ENOSPC\)/;

// --- a small file system -----------------------------------------------------------------------

const probe = mountSmallFs(MiB);
if ('dir' in probe) unmount(probe.dir);
else console.log(`disk-full: the tests on a small tmpfs are skipped: mounting one was refused (${probe.reason})`);
const onSmallFs = 'dir' in probe ? test.serial : test.serial.skip;

/** Writes `file` until the file system has no byte left (guarded: only on the small tmpfs). */
function fillDisk(file: string): void {
  const { blocks, bsize } = fs.statfsSync(path.dirname(file));
  if (blocks * bsize > 64 * MiB) throw new Error(`test bug: refusing to fill ${path.dirname(file)}`);
  const fd = fs.openSync(file, 'w');
  try {
    for (const size of [MiB, 64 * 1024, 4096, 1]) {
      const chunk = Buffer.alloc(size, 0x5a);
      try {
        for (;;) fs.writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

// --- injected ENOSPC -----------------------------------------------------------------------------

function enospc(syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOSPC: no space left on device, ${syscall}`), { errno: -28, code: 'ENOSPC', syscall });
}

/**
 * While `full`, writes (or fsyncs) through every file handle opened under `dir` fail with ENOSPC,
 * as they do on a full disk (a write) or on file systems that allocate late (an fsync). Other
 * files are not affected.
 */
class InjectedFullDisk {
  full = false;
  readonly #dir: string;
  readonly #at: 'write' | 'fsync';
  readonly #handles = new WeakSet<FileHandle>();
  #restore: (() => void) | null = null;

  constructor(dir: string, at: 'write' | 'fsync') {
    this.#dir = dir;
    this.#at = at;
  }

  async install(): Promise<void> {
    const open = fsp.open;
    const probeHandle = await open(fileURLPath(), 'r');
    const proto = Object.getPrototypeOf(probeHandle) as Record<string, (...args: unknown[]) => Promise<unknown>>;
    await probeHandle.close();
    const saved = { write: proto.write!, writev: proto.writev!, sync: proto.sync!, datasync: proto.datasync! };
    const self = this;
    fsp.open = (async (file: fs.PathLike, ...rest: unknown[]) => {
      const handle = await (open as (...a: unknown[]) => Promise<FileHandle>)(file, ...rest);
      if (path.resolve(String(file)).startsWith(`${self.#dir}${path.sep}`)) self.#handles.add(handle);
      return handle;
    }) as typeof fsp.open;
    const wrap = (name: keyof typeof saved, kind: 'write' | 'fsync') =>
      function (this: FileHandle, ...args: unknown[]): Promise<unknown> {
        if (self.full && self.#at === kind && self.#handles.has(this)) return Promise.reject(enospc(kind));
        return saved[name].apply(this, args);
      };
    proto.write = wrap('write', 'write');
    proto.writev = wrap('writev', 'write');
    proto.sync = wrap('sync', 'fsync');
    proto.datasync = wrap('datasync', 'fsync');
    this.#restore = () => {
      fsp.open = open;
      Object.assign(proto, saved);
    };
  }

  uninstall(): void {
    this.#restore?.();
    this.#restore = null;
  }
}

function fileURLPath(): string {
  return new URL(import.meta.url).pathname;
}

// --- the scenario ---------------------------------------------------------------------------------

interface Disk {
  fill(): void;
  free(): void;
}

/** Names in the job's directory that are neither images nor the lock: temp files left behind. */
function leftovers(store: LocalStore): string[] {
  return fs.readdirSync(store.jobDir('job')).filter((n) => !/^\d{8}\.crimg$/.test(n) && n !== 'lock');
}

/** Restores the store's latest image and returns its number, state and region bytes. */
async function latestContents(store: LocalStore): Promise<{ sequence: number; step: unknown; grid: Uint8Array }> {
  const codec = await getCodec();
  const latest = store.latest('job', codec);
  if (!latest) throw new Error('no image');
  latest.reader.verifyFull();
  const restored = new RestoredImage(latest.reader);
  try {
    const section = latest.reader.manifest.sections.find((s) => s.kind === 'region' && s.name === 'grid')!;
    const grid = latest.reader.readSection(section);
    return { sequence: latest.entry.sequence, step: (restored.state('s')!.value as { step: number }).step, grid };
  } finally {
    restored.close();
  }
}

/**
 * A job's context on `storeDir`: image 1, then checkpoints while the disk is full, then after.
 * `inThread`: no staging memory, so every image is written on this thread while the job waits
 * (the path an image takes when it does not fit the staging budget); else images are staged and
 * written by the job's writer thread, whose file handles only a real full disk reaches.
 */
async function checkpointThroughFullDisk(t: ExecutionContext, storeDir: string, disk: Disk, inThread = false): Promise<void> {
  const codec = await getCodec();
  const store = LocalStore.open({ dir: storeDir });
  const writer = new ImageWriter({ codec, key: store.key, level: 1, blockSize: 64 * 1024, batchBlocks: 4, writerName: 'disk-full test' });
  const warnings: string[] = [];
  const context = new JobContext({
    job: 'job',
    attempt: 1,
    store,
    writer,
    restored: null,
    policy: resolvePolicyOptions({ intervalMs: null }),
    fullEvery: 8,
    stagingBudgetBytes: inThread ? 0 : undefined,
    control: null,
    events: { progress: () => undefined, log: () => undefined, warning: (m) => warnings.push(m), checkpoint: () => undefined },
  });
  const s = context.state('s', { step: 0 });
  const grid = context.region('grid', Float64Array, 64 * 1024); // 512 KiB: 8 blocks
  for (let i = 0; i < grid.length; i++) grid[i] = Math.sin(i) * 1e6;
  const bytes = (): Uint8Array => new Uint8Array(grid.buffer.slice(grid.byteOffset, grid.byteOffset + grid.byteLength));
  try {
    t.is((await context.checkpoint({ force: true, durable: true }))!.sequence, 1);
    const first = bytes();

    disk.fill();
    // The job computes on between safe points; each one changes a block the next image must hold.
    s.step = 1;
    grid[0] = -1;
    const background = await context.checkpoint({ force: true });
    // Staged, the job goes on before the write fails; written in this thread, it waited for the
    // failure, and is answered the same way: a warning, and `committed` rejects.
    t.false(background!.durable, 'a checkpoint that is not durable resolves to the non-durable info');
    const failure = await t.throwsAsync(background!.committed, { instanceOf: CheckpointError });
    t.is(failure?.code, 'CR_CHECKPOINT_FAILED');
    t.regex(failure?.message ?? '', FULL);
    t.regex(failure?.message ?? '', /the previous image stays the latest and the job goes on$/);
    t.true(warnings.some((w) => FULL.test(w)), 'the failure was reported as a warning');

    s.step = 2;
    grid[8192] = -2;
    const forced = await t.throwsAsync(context.checkpoint({ force: true, durable: true }), { instanceOf: CheckpointError });
    t.regex(forced?.message ?? '', FULL);
    // A checkpoint that is due but not forced only warns: the job is not interrupted.
    s.step = 3;
    grid[16384] = -3;
    const quiet = await context.checkpoint({ force: true });
    await t.throwsAsync(quiet!.committed, { instanceOf: CheckpointError });

    t.deepEqual(store.list('job').map((e) => e.sequence), [1], 'nothing was committed while the disk was full');
    t.deepEqual(leftovers(store), [], 'no temp file is left behind');
    const during = await latestContents(store);
    t.is(during.sequence, 1);
    t.is(during.step, 0);
    t.deepEqual(during.grid, first, 'image 1 still verifies and restores what it held');

    disk.free();
    s.step = 4;
    grid[24576] = -4;
    const next = await context.checkpoint({ force: true, durable: true });
    t.is(next!.sequence, 2, 'the next checkpoint succeeds once space returns, under the next number');
    const after = await latestContents(store);
    t.is(after.sequence, 2);
    t.is(after.step, 4);
    // Every block changed while the disk was full is in image 2, not only the last one.
    t.deepEqual(after.grid, bytes());
    t.deepEqual(leftovers(store), []);
  } finally {
    await context.close();
  }
}

onSmallFs('On a full tmpfs, checkpoints fail with "the disk is full", the job goes on, image 1 stays the latest, and the next checkpoint succeeds once space returns.', async (t) => {
  const mounted = mountSmallFs(4 * MiB);
  if (!('dir' in mounted)) return t.fail(mounted.reason);
  t.teardown(() => unmount(mounted.dir));
  const filler = path.join(mounted.dir, 'filler');
  await checkpointThroughFullDisk(t, path.join(mounted.dir, 'store'), { fill: () => fillDisk(filler), free: () => fs.rmSync(filler) });
});

for (const at of ['write', 'fsync'] as const) {
  // Injected in this thread's file handles, so the images are written in this thread (inThread);
  // the staged path through the writer thread meets the kernel's own ENOSPC on the tmpfs above.
  test.serial(`With ENOSPC injected at ${at === 'write' ? 'every write' : 'fsync'} of images written while the job waits, checkpoints fail with "the disk is full", the job goes on, image 1 stays the latest, and the next checkpoint succeeds.`, async (t) => {
    const dir = tempDir(t, 'enospc');
    const disk = new InjectedFullDisk(dir, at);
    await disk.install();
    t.teardown(() => disk.uninstall());
    await checkpointThroughFullDisk(t, path.join(dir, 'store'), { fill: () => (disk.full = true), free: () => (disk.full = false) }, true);
  });
}

test.serial('LocalStore.commit on a full disk rejects with the ENOSPC error, leaves no temp file and keeps the images before it.', async (t) => {
  const dir = tempDir(t, 'commit');
  const store = LocalStore.open({ dir: path.join(dir, 'store') });
  const disk = new InjectedFullDisk(dir, 'write');
  await disk.install();
  t.teardown(() => disk.uninstall());
  const write = async (handle: FileHandle): Promise<void> => {
    await handle.write(Buffer.alloc(10_000, 7), 0, 10_000, 0);
  };
  await store.commit('job', 1, write);
  const before = fs.readFileSync(store.imageFile('job', 1));
  disk.full = true;
  const err = await t.throwsAsync(store.commit('job', 2, write));
  t.is((err as NodeJS.ErrnoException).code, 'ENOSPC');
  t.deepEqual(fs.readdirSync(store.jobDir('job')), ['00000001.crimg']);
  t.true(fs.readFileSync(store.imageFile('job', 1)).equals(before));
  disk.full = false;
  await store.commit('job', 2, write);
  t.deepEqual(store.list('job').map((e) => e.sequence), [1, 2]);
});

onSmallFs('cr-scheduler run on a disk that fills up and frees again warns, records each failed checkpoint in --metrics-file and its report, keeps the job running, and ends with the uninterrupted result and only good images.', async (t) => {
  const mounted = mountSmallFs(4 * MiB);
  if (!('dir' in mounted)) return t.fail(mounted.reason);
  t.teardown(() => unmount(mounted.dir));
  const store = path.join(mounted.dir, 'store');
  const args = { steps: 60, fillAt: 15, freeAt: 40, filler: path.join(mounted.dir, 'filler') };
  // The metrics file is on another disk: it must record the failures, not suffer them.
  const metricsFile = path.join(tempDir(t, 'disk-full-metrics'), 'job.metrics.jsonl');
  const run = await runCli(t, ['run', FILLER_JOB, '--store', store, '--args', JSON.stringify(args), '--every', '1', '--interval', '3600', '--retries', '0', '--metrics-file', metricsFile]);
  t.is(run.code, 0, show(run));
  t.regex(run.stderr, /disk-filler: filled at step 15/);
  t.regex(run.stderr, /^warning: checkpoint disk-filler-job-\d{8} of job "disk-filler-job" failed: the disk is full \(ENOSPC\); the previous image stays the latest and the job goes on$/m);
  // One metrics line per failed checkpoint, with the error's code and the system error under it;
  // each message is one the run warned with (the runner shows a repeated warning once).
  const warned = new Set([...run.stderr.matchAll(/^warning: (.*)$/gm)].map((m) => m[1]));
  const failed = fs.readFileSync(metricsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'checkpoint-failed');
  t.true(failed.length > 0, 'the failed checkpoints are in the metrics file');
  for (const line of failed) {
    t.like(line, { v: 1, job: 'disk-filler-job', attempt: 1, stage: 'write', code: 'CR_CHECKPOINT_FAILED', errno: 'ENOSPC' });
    t.regex(line.message as string, FULL);
    t.true(warned.has(line.message as string), `the run warned: ${line.message as string}`);
  }
  const report = await runCli(t, ['report', metricsFile, '--json']);
  t.is(report.code, 0, show(report));
  t.is((JSON.parse(report.stdout) as { jobs: { checkpointsFailed: number }[] }).jobs[0]!.checkpointsFailed, failed.length);
  const text = await runCli(t, ['report', metricsFile]);
  t.regex(text.stdout, new RegExp(`^failed +${failed.length} checkpoints? could not be written `, 'm'));
  t.regex(run.stderr, /disk-filler: freed at step 40/);
  t.deepEqual(JSON.parse(run.stdout), await uninterruptedResult(FILLER_JOB, { steps: 60 }));
  const names = fs.readdirSync(path.join(store, 'disk-filler-job'));
  // The finished record, and images: no temp file or lock.
  t.deepEqual(names.filter((n) => !/^\d{8}\.crimg$/.test(n)), ['finished.json'], 'no temp file or lock is left');
  for (const name of names.filter((n) => n !== 'finished.json')) {
    const verify = await runCli(t, ['image', 'verify', path.join(store, 'disk-filler-job', name)]);
    t.is(verify.code, 0, show(verify));
  }
});

onSmallFs('A store created on a full disk fails with ENOSPC and leaves no temp key file behind.', (t) => {
  const mounted = mountSmallFs(MiB);
  if (!('dir' in mounted)) return t.fail(mounted.reason);
  t.teardown(() => unmount(mounted.dir));
  const storeDir = path.join(mounted.dir, 'store');
  fs.mkdirSync(storeDir);
  fillDisk(path.join(mounted.dir, 'filler'));
  const err = t.throws(() => LocalStore.open({ dir: storeDir }));
  t.is((err as NodeJS.ErrnoException).code, 'ENOSPC');
  t.deepEqual(fs.readdirSync(storeDir), [], 'neither a key nor its temp file');
  fs.rmSync(path.join(mounted.dir, 'filler'));
  t.is(LocalStore.open({ dir: storeDir }).key.length, 32, 'once space returns the key is created');
});
