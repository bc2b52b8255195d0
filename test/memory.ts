// Resident-memory checks for the leak tests. Resident memory moves for reasons other than a
// leak: V8 grows a heap (the job thread's, or the writer thread's, whose collector runs on its
// own schedule) and malloc keeps freed memory. Those are steps that the machine's load can move
// but that do not repeat, while a leak grows memory at every checkpoint. So the tests take three
// marks and judge the smaller growth of the two windows between them.
import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--expose-gc');
/** A full collection of this thread's heap (ava does not start workers with --expose-gc). */
const collect = vm.runInNewContext('gc') as () => void;

export interface MemoryMark {
  rss: number;
  /** ArrayBuffer memory of this thread, counted exactly (staging, the state arena). */
  arrayBuffers: number;
}

export function markMemory(): MemoryMark {
  collect();
  const { rss, arrayBuffers } = process.memoryUsage();
  return { rss, arrayBuffers };
}

export interface MemoryGrowth {
  /** Resident memory gained in each window, bytes. */
  windows: [number, number];
  /** The smaller of the two: what a leak adds to both. */
  steady: number;
  /** ArrayBuffer memory gained from the first mark to the last, bytes. */
  arrayBuffers: number;
}

export function memoryGrowth([a, b, c]: [MemoryMark, MemoryMark, MemoryMark]): MemoryGrowth {
  const windows: [number, number] = [b.rss - a.rss, c.rss - b.rss];
  return { windows, steady: Math.min(...windows), arrayBuffers: c.arrayBuffers - a.arrayBuffers };
}

export function describeGrowth(growth: MemoryGrowth, checkpoints: number): string {
  const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);
  return `resident memory grew ${mib(growth.windows[0])} and ${mib(growth.windows[1])} MiB in two windows of ${checkpoints} checkpoints; ArrayBuffer memory ${mib(growth.arrayBuffers)} MiB`;
}
