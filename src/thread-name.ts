// Names the calling thread as `top -H`, `ps -L`, perf and /proc/PID/task show it: the job's
// thread, its image writer and each team member, beside the addon's own threads (cr-bg-N,
// cr-cow). Linux only (a thread's own /proc/thread-self/comm, at most 15 bytes); elsewhere a
// name is a convenience that is simply not given. A new thread inherits its creator's name
// until it names itself, so the writer and team members name themselves first thing.
import fs from 'node:fs';

export function nameThread(name: string): void {
  try {
    fs.writeFileSync('/proc/thread-self/comm', name.slice(0, 15));
  } catch {
    // Not Linux, or no /proc: the thread keeps its inherited name.
  }
}
