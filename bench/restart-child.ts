// A restart in a new process, as a restarted job's process runs it: the latest image of a job
// loaded into new region memory, timed next to a first touch of as much fresh memory in the same
// process. bench/index.ts starts such processes one after another once its commits and its own
// restarts are done. The image is as cold as the commit left it: the writer wrote it past the
// page cache, and restarts read it past it too, where the file system offers direct I/O (the
// bench says when it does not).
//
// Both come after an unmeasured touch of that much memory, freed: on a virtual machine whose host
// backs guest memory on its first use, whichever of the two ran first would pay for that, by
// more than either takes (docs/performance.md).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { getCodec } from '../src/codec/index.js';
import type { BlockCodec } from '../src/codec/types.js';
import { LocalStore } from '../src/store/local-store.js';
import { firstTouch, restartFromLatest } from './measure.js';

export interface ChildRestart {
  restartMs: number;
  /** The process's CPU time during the restart, all threads. */
  userMs: number;
  systemMs: number;
  firstTouchMs: number;
  huge: boolean;
}

/** Element `probe` of the restored region must be `expected`: the restart restored this image. */
async function restartHere(codecName: BlockCodec['name'], dir: string, job: string, bytes: number, probe: number, expected: number): Promise<ChildRestart> {
  const codec = await getCodec({ prefer: codecName });
  if (codec.name !== codecName) throw new Error(`the ${codecName} codec is unavailable in the child`);
  const store = LocalStore.open({ dir, keepImages: 2 });
  firstTouch(bytes);
  const reference = firstTouch(bytes);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const again = restartFromLatest(codec, store, job);
  const field = again.region('field', Float64Array, bytes / 8);
  const restartMs = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  if (!Object.is(field[probe], expected)) throw new Error(`restore mismatch: element ${probe} is ${field[probe]}, not ${expected}`);
  await again.close();
  return { restartMs, userMs: cpu.user / 1000, systemMs: cpu.system / 1000, firstTouchMs: reference.ms, huge: reference.huge };
}

/** restartHere in a new Node process, with the codec the bench runs (`codec`). */
export function restartInChild(codec: BlockCodec['name'], dir: string, job: string, bytes: number, probe: number, expected: number): ChildRestart {
  // String(-0) is '0': the sign is kept by hand.
  const value = Object.is(expected, -0) ? '-0' : String(expected);
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', codec, dir, job, String(bytes), String(probe), value], { encoding: 'utf8' });
  return JSON.parse(out) as ChildRestart;
}

if (process.argv[2] === '--child') {
  const [codec, dir, job, bytes, probe, expected] = process.argv.slice(3);
  process.stdout.write(JSON.stringify(await restartHere(codec as BlockCodec['name'], dir!, job!, Number(bytes), Number(probe), Number(expected))));
}
