// CPU time of other processes and their threads, for the benches that compare a cost per call,
// per byte or per image: on a shared machine CPU time is steadier than wall time. Linux /proc,
// which counts in USER_HZ ticks: 100 per second on every Linux build.
import fs from 'node:fs';

const TICK_MS = 10;

/** The fields of a /proc stat line after the command name (field 3, the state, is index 0). */
function statFields(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  return text.slice(text.lastIndexOf(') ') + 2).split(' ');
}

/** User + system CPU time of process `pid` so far, ms; NaN once it is gone. */
export function processCpuMs(pid: number): number {
  try {
    const fields = statFields(`/proc/${pid}/stat`);
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return Number.NaN;
  }
}

export interface Cpu {
  userMs: number;
  sysMs: number;
}

/** The CPU time of this process's children that have ended and been waited for, with theirs. */
export function endedChildrenCpu(): Cpu {
  const fields = statFields('/proc/self/stat');
  return { userMs: Number(fields[13]) * TICK_MS, sysMs: Number(fields[14]) * TICK_MS };
}

export interface ThreadCpu extends Cpu {
  tid: number;
  /** The thread's name (comm): cr names its own (cr-job, cr-writer, cr-bg-N, cr-cow…). */
  name: string;
}

/** Each live thread of process `pid` and its CPU time so far; [] once the process is gone. */
export function threadsCpu(pid: number): ThreadCpu[] {
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: ThreadCpu[] = [];
  for (const tid of tids) {
    try {
      const name = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const fields = statFields(`/proc/${pid}/task/${tid}/stat`);
      out.push({ tid: Number(tid), name, userMs: Number(fields[11]) * TICK_MS, sysMs: Number(fields[12]) * TICK_MS });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}
