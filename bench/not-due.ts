// The cost of a safe point when no checkpoint is due, in a new process with one job context, as a
// job's process makes it. Measured in the bench's own process, after everything the bench ran
// before, the same loop took from 7 to 42 ns per call: what V8 compiled checkpoint() to depended
// on what the bench's other job contexts had fed its compiler, and on when that compiler's thread
// finished.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getCodec } from '../src/codec/index.js';
import type { BlockCodec } from '../src/codec/types.js';
import type { JobContext } from '../src/job/context.js';
import { LocalStore } from '../src/store/local-store.js';
import { newContext } from './measure.js';
import { median } from './stats.js';

/** `calls` not-due `checkpoint()` calls, as a job's hot loop makes them; how many did work (0 on the not-due path). */
function notDueCalls(ctx: JobContext, notDue: Promise<unknown>, calls: number): number {
  let worked = 0;
  for (let i = 0; i < calls; i++) if (ctx.checkpoint() !== notDue) worked++;
  return worked;
}

/** ns per not-due `checkpoint()` call, median of five runs of 2·10⁷ calls after a warm-up. */
async function notDueHere(codecName: BlockCodec['name'], dir: string): Promise<number> {
  const codec = await getCodec({ prefer: codecName });
  if (codec.name !== codecName) throw new Error(`the ${codecName} codec is unavailable in the child`);
  const store = LocalStore.open({ dir: path.join(dir, 'store-not-due') });
  // A runner's control word and an hour's interval: the checks a real not-due safe point makes.
  const ctx = newContext(codec, store, 'notdue', { intervalMs: 3_600_000, control: new Int32Array(new SharedArrayBuffer(4)) });
  const calls = 20_000_000;
  // Not due, checkpoint() returns one shared resolved promise: any other object means it did work.
  const notDue = ctx.checkpoint();
  let worked = 0;
  for (let r = 0; r < 10; r++) worked += notDueCalls(ctx, notDue, 100_000); // warm up the compiler
  const runs = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    worked += notDueCalls(ctx, notDue, calls);
    runs.push(Number(process.hrtime.bigint() - t0) / calls);
  }
  await ctx.close();
  if (worked !== 0) throw new Error(`${worked} calls took a checkpoint: the not-due path is broken`);
  return median(runs);
}

/** notDueHere in a new Node process, with the codec the bench runs. */
export function notDueInChild(codec: BlockCodec['name'], dir: string): number {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', codec, dir], { encoding: 'utf8' });
  const ns = Number(out);
  if (!Number.isFinite(ns) || ns <= 0) throw new Error(`the not-due child printed ${JSON.stringify(out)}, not a time per call`);
  return ns;
}

if (process.argv[2] === '--child') {
  const [codec, dir] = process.argv.slice(3);
  process.stdout.write(String(await notDueHere(codec as BlockCodec['name'], dir!)));
}
