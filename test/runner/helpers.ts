// What the end-to-end tests of the runner and the CLI share: spawning `cr-scheduler` as a real
// process (so that SIGKILL kills everything the job runs on), temp stores, a seeded PRNG for
// replayable kill times, and a look at a store's directory as the runner sees it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { HANG_GUARD_MS } from '../hang-guard.js';
import { getCodec } from '../../src/codec/index.js';
import { ImageReader } from '../../src/image/reader.js';

// dist/test/runner/helpers.js → dist/scheduler/cli.js, and the source tree's root three levels up
// (fixtures and examples are .mjs files run from the source tree, not compiled).
export const CLI = fileURLToPath(new URL('../../scheduler/cli.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const EXAMPLES = path.join(ROOT, 'examples');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');

export { HANG_GUARD_MS };

/** A CLI call still running after the hang guard is killed, so that no test waits for ever. */
const CLI_TIMEOUT_MS = HANG_GUARD_MS;

/** The developer's CR_* settings must not leak into the runs, except CR_NATIVE (it picks the codec). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('CR_') && name !== 'CR_NATIVE') delete env[name];
  return env;
}

export interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running `cr-scheduler`: its output so far, and ways to wait for more. */
export class CliProcess {
  readonly child: ChildProcess;
  readonly args: readonly string[];
  stdout = '';
  stderr = '';
  /** Settles when the process has exited and its output is fully read. */
  readonly exit: Promise<CliExit>;
  exited = false;
  readonly #waiters = new Set<() => void>();

  constructor(args: readonly string[], env: NodeJS.ProcessEnv) {
    this.args = args;
    this.child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      this.#wake();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      this.#wake();
    });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), CLI_TIMEOUT_MS);
    this.exit = new Promise<CliExit>((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('close', (code, signal) => {
        clearTimeout(timer);
        this.exited = true;
        this.#wake();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  /** Resolves with the first match of `pattern` in stderr; rejects if the process exits first. */
  async waitForStderr(pattern: RegExp, timeoutMs = HANG_GUARD_MS): Promise<RegExpMatchArray> {
    let match: RegExpMatchArray | null = null;
    await this.waitUntil(() => (match = pattern.exec(this.stderr)) !== null, `stderr to match ${pattern}`, timeoutMs);
    return match!;
  }

  /**
   * Resolves once `ready()` holds, checking it on every output chunk and every `pollMs`;
   * rejects when the process exits first or after `timeoutMs`, with its output in the message.
   */
  waitUntil(ready: () => boolean, what: string, timeoutMs = HANG_GUARD_MS, pollMs = 5): Promise<void> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const check = (): void => {
        if (ready()) return done(null);
        if (this.exited) return done(new Error(`cr-scheduler exited before ${what}\n${this.describe()}`));
        if (Date.now() - started > timeoutMs) return done(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.describe()}`));
      };
      const timer = setInterval(check, pollMs);
      const done = (err: Error | null): void => {
        clearInterval(timer);
        this.#waiters.delete(check);
        if (err) reject(err);
        else resolve();
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Kills the process if it still runs and waits for it: no test leaves one behind. */
  async stop(): Promise<void> {
    if (!this.exited) this.child.kill('SIGKILL');
    await this.exit.catch(() => undefined);
  }

  describe(): string {
    return `$ cr-scheduler ${this.args.join(' ')}\n--- stdout ---\n${this.stdout}--- stderr ---\n${this.stderr}`;
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/** Starts `cr-scheduler ...args`; the test's teardown kills it if it is still running. */
export function startCli(t: ExecutionContext, args: readonly string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const cli = new CliProcess(args, { ...cleanEnv(), ...env });
  t.teardown(() => cli.stop());
  return cli;
}

/** Runs `cr-scheduler ...args` to its end. */
export function runCli(t: ExecutionContext, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliExit> {
  return startCli(t, args, env).exit;
}

/** Mounts a tmpfs of `bytes` on a new directory (a disk that can be filled); or says why it cannot. Unmount with `unmount`. */
export function mountSmallFs(bytes: number): { dir: string } | { reason: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-smallfs-'));
  const run = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'cr-test', dir], { encoding: 'utf8' });
  if (run.status !== 0) {
    fs.rmdirSync(dir);
    return { reason: (run.error?.message ?? run.stderr.trim()) || `mount exited ${run.status}` };
  }
  return { dir };
}

export function unmount(dir: string): void {
  spawnSync('umount', ['-l', dir]);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A new empty directory under os.tmpdir(), removed when the test ends. */
export function tempDir(t: ExecutionContext, label: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cr-${label}-`));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** mulberry32: a small seeded PRNG of doubles in [0, 1), so that a failing schedule can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed of a randomized test: CR_TEST_SEED when set (to replay a failure), else a fresh one. */
export function testSeed(): number {
  const given = process.env.CR_TEST_SEED;
  if (given !== undefined && given !== '') {
    const seed = Number(given);
    if (!Number.isInteger(seed)) throw new RangeError(`CR_TEST_SEED must be an integer, got "${given}"`);
    return seed;
  }
  return Math.floor(Math.random() * 2 ** 31);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits for a random kill moment of a run that has just committed image `before + 1`: `delayMs`
 * later, or as soon as its newest image reaches `before + maxImages`, whichever comes first, so
 * that on a fast machine a run still cannot go far between two kills (nor end before the last).
 */
export async function killMoment(run: CliProcess, store: string, job: string, before: number, delayMs: number, maxImages: number): Promise<void> {
  const far = run.waitUntil(() => run.exited || newestSequence(store, job) >= before + maxImages, `image ${before + maxImages}`, delayMs + HANG_GUARD_MS, 2);
  await Promise.race([sleep(delayMs), far]);
}

/** The files of a job's directory in a store, sorted into what the runner makes of them. */
export interface JobDirListing {
  /** Committed images, oldest first. */
  images: { sequence: number; file: string }[];
  /** Images being written (`.00000013.crimg.tmp.<pid>`), by the sequence they were to have. */
  temps: { sequence: number; pid: number; file: string }[];
  lock: boolean;
  /** Anything else: there should be nothing. */
  other: string[];
}

export function listJobDir(store: string, job: string): JobDirListing {
  const dir = path.join(store, job);
  const listing: JobDirListing = { images: [], temps: [], lock: false, other: [] };
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const name of names) {
    const image = /^(\d{8})\.crimg$/.exec(name);
    const temp = /^\.(\d{8})\.crimg\.tmp\.(\d+)$/.exec(name);
    if (image) listing.images.push({ sequence: Number(image[1]), file: path.join(dir, name) });
    else if (temp) listing.temps.push({ sequence: Number(temp[1]), pid: Number(temp[2]), file: path.join(dir, name) });
    else if (name === 'lock') listing.lock = true;
    else listing.other.push(name);
  }
  listing.images.sort((a, b) => a.sequence - b.sequence);
  return listing;
}

/** The sequence of the newest committed image of `job`, 0 when it has none. */
export function newestSequence(store: string, job: string): number {
  return listJobDir(store, job).images.at(-1)?.sequence ?? 0;
}

export function imageId(job: string, sequence: number): string {
  return `${job}-${String(sequence).padStart(8, '0')}`;
}

export function imageFile(store: string, job: string, sequence: number): string {
  return path.join(store, job, `${String(sequence).padStart(8, '0')}.crimg`);
}

/** Parses the job's result from stdout, failing the test with the whole output when it is not JSON. */
export function resultOf(t: ExecutionContext, run: CliExit): unknown {
  try {
    return JSON.parse(run.stdout);
  } catch {
    t.fail(`stdout is not the job's JSON result\n--- stdout ---\n${run.stdout}--- stderr ---\n${run.stderr}`);
    return undefined;
  }
}

const uninterrupted = new Map<string, Promise<unknown>>();

/**
 * The result of one run of the job without any checkpoint or kill: what every resumed run must
 * equal. Computed once per job and args in this test file (the tests share it).
 */
export function uninterruptedResult(jobFile: string, args: unknown): Promise<unknown> {
  const key = `${jobFile} ${JSON.stringify(args)}`;
  let result = uninterrupted.get(key);
  if (!result) {
    result = (async () => {
      const store = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-uninterrupted-'));
      const cli = new CliProcess(['run', jobFile, '--store', store, '--args', JSON.stringify(args), '--interval', '3600', '--retries', '0'], cleanEnv());
      try {
        const run = await cli.exit;
        if (run.code !== 0) throw new Error(`the uninterrupted run failed\n${cli.describe()}`);
        return JSON.parse(run.stdout) as unknown;
      } finally {
        await cli.stop();
        fs.rmSync(store, { recursive: true, force: true });
      }
    })();
    uninterrupted.set(key, result);
  }
  return result;
}

/** Stack frames in CLI output: the CLI shows none unless -v. */
export const STACK_FRAME = /^\s+at .+\(?.+:\d+:\d+\)?$/m;

/**
 * Flips one bit in the middle of the stored bytes of the first block of region `region` that the
 * image holds itself (an incremental image may leave some blocks in the images it builds on).
 */
export async function flipBitInBlock(file: string, region: string): Promise<void> {
  const reader = ImageReader.open(file, { codec: await getCodec(), key: null });
  const section = reader.manifest.sections.find((s) => s.kind === 'region' && s.name === region);
  reader.close();
  if (!section) throw new Error(`${file} has no region "${region}"`);
  // A 7th entry in a block tuple names the base image that holds the block.
  const own = section.blocks.find((b) => (b as unknown[])[6] === undefined);
  if (!own) throw new Error(`${file} holds no block of region "${region}" itself`);
  const [offset, stored] = own;
  const at = offset + Math.floor(stored / 2);
  const fd = fs.openSync(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, at);
    byte[0]! ^= 0x10;
    fs.writeSync(fd, byte, 0, 1, at);
  } finally {
    fs.closeSync(fd);
  }
}

/** How a run ended and what it said, for assertion messages. */
export function show(run: CliExit): string {
  return `exit code ${run.code}, signal ${run.signal}\n--- stdout ---\n${run.stdout}--- stderr ---\n${run.stderr}`;
}

/** A loopback port that was free a moment ago: nothing listens there until a test starts something on it. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
