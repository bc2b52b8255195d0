// A JobContext in the test's own thread over a temp store: one attempt, then the next one
// restored from the newest image, as the runner would do, without a worker or a process.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getCodec } from '../../src/codec/index.js';
import { DEFAULT_BLOCK_SIZE } from '../../src/image/format.js';
import { ImageWriter } from '../../src/image/writer.js';
import { JobContext } from '../../src/job/context.js';
import { resolvePolicyOptions } from '../../src/policy.js';
import { RestoredImage } from '../../src/restore.js';
import { LocalStore } from '../../src/store/local-store.js';

export interface Attempt {
  context: JobContext;
  warnings: string[];
  logs: string[];
}

export interface AttemptOptions {
  /** The attempt's number; default 1 fresh, 2 restored. */
  number?: number;
  /** The runner's control word; default none. */
  control?: Int32Array | null;
  /** Checkpoint every N safe points; default 10. */
  everyCalls?: number | null;
  /** Checkpoint interval, ms; default none. */
  intervalMs?: number | null;
}

/** Starts an attempt of job "job" in `dir`: fresh, or restored from the newest image when `restore`. */
export async function attempt(dir: string, restore: boolean, options: AttemptOptions = {}): Promise<Attempt> {
  const { number = restore ? 2 : 1, control = null, everyCalls = 10, intervalMs = null } = options;
  const codec = await getCodec();
  const store = LocalStore.open({ dir });
  const writer = new ImageWriter({ codec, key: store.key, level: 1, blockSize: DEFAULT_BLOCK_SIZE, batchBlocks: 4, writerName: 'test' });
  const latest = restore ? store.latest('job', codec) : null;
  if (restore && !latest) throw new Error(`no image to restore from in ${dir}`);
  const warnings: string[] = [];
  const logs: string[] = [];
  const context = new JobContext({
    job: 'job',
    attempt: number,
    store,
    writer,
    restored: latest ? new RestoredImage(latest.reader) : null,
    policy: resolvePolicyOptions({ intervalMs, everyCalls }),
    fullEvery: 8,
    control,
    events: { progress: () => undefined, log: (line) => logs.push(line), warning: (m) => warnings.push(m), checkpoint: () => undefined },
  });
  return { context, warnings, logs };
}

/** A new empty directory, removed when the test ends. */
export function tempDir(t: { teardown(fn: () => void): void }, label: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cr-${label}-`));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
