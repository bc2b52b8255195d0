// The addon's threads never outlive what they use: a Worker terminated or exiting, or the whole
// process exiting, with encodes, restores, staged copies and copy-on-write flushes in flight,
// never aborts or crashes the process (issue 14: the encode pool once released a thread-safe
// function after its environment was gone, SIGABRT in about one run of five). Each case is a
// fresh process (teardown-child.ts), judged only by how it ended.
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNative } from '../../src/native/binding.js';
import type { Ending } from './teardown-child.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'teardown-child.js');
/** CR_TEARDOWN_PROCESSES: fewer for the much slower sanitizer build (npm run test:sanitize). */
const PROCESSES = Number(process.env.CR_TEARDOWN_PROCESSES) || 50;
const WORKERS = 4; // 200 Worker threads over the 50 processes
const PARALLEL = 2;
/** Hang guards only: a child ends in about a second when the machine is not loaded. */
const CHILD_HANG_MS = 300_000;
const TEST_HANG_MS = 60 * 60_000;
// terminate is the ending that once aborted (about one child in ten): it is taken twice as often.
const ENDINGS: Ending[] = ['terminate', 'worker-exit', 'terminate', 'main-exit'];

interface Ended {
  ending: Ending;
  seed: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  ended: boolean;
  stderr: string;
}

function runChild(ending: Ending, seed: number, dir: string): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const options = JSON.stringify({ ending, workers: WORKERS, seed, dir });
    const child = spawn(process.execPath, [CHILD, options], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), CHILD_HANG_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ ending, seed, code, signal, ended: stdout.includes('ended'), stderr: stderr.slice(-2000) });
    });
  });
}

const { binding, reason } = loadNative();
const withAddon = binding ? test : test.skip;
if (!binding) console.log(`teardown.test: skipped, the addon is unavailable: ${reason}`);

withAddon(`${PROCESSES * WORKERS} Worker threads and ${PROCESSES} processes end with encodes, restores and flushes in flight, and none aborts.`, async (t) => {
  t.timeout(TEST_HANG_MS);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-teardown-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const results: Ended[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < PROCESSES) {
      const seed = next++;
      const sub = path.join(dir, String(seed));
      fs.mkdirSync(sub);
      results.push(await runChild(ENDINGS[seed % ENDINGS.length]!, seed, sub));
      fs.rmSync(sub, { recursive: true, force: true });
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, lane));
  const bad = results.filter((r) => r.code !== 0 || r.signal !== null || !r.ended);
  for (const r of bad) t.log(`${r.ending} #${r.seed}: code ${r.code}, signal ${r.signal}, ended ${r.ended}\n${r.stderr}`);
  t.is(results.length, PROCESSES);
  t.deepEqual(bad.map((r) => `${r.ending} #${r.seed}: ${r.signal ?? r.code}`), []);
  const cow = binding!.cowSupport();
  if (!cow.available) t.log(`copy-on-write is unavailable here, so no flushes were in flight: ${cow.reason}`);
});
