import fs from 'node:fs';
// CPU time of another process, for the benches that compare a server's cost per call or per
// byte: on a shared machine CPU time is steadier than wall time.

/** User + system CPU time of process `pid` so far, ms (Linux /proc/PID/stat, in clock ticks of 10 ms); NaN once it is gone. */
export function processCpuMs(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}
