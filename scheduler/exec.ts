// Replacing this process with another program (execv(3)): the same pid, the environment, stdin,
// stdout and stderr kept. cli.ts uses it to restart Node with a V8 flag that V8 takes only at
// start-up. It must be the same process, not a child: whatever started cr-scheduler (a shell,
// systemd, Kubernetes, Slurm, a test) signals, waits for and kill -9s the pid it started, and a
// child would outlive a kill of its parent. Node offers no execv, so this is the one function of
// a tiny addon of the scheduler's own (native/exec/, build/Release/cr_exec.node), apart from the
// job addon.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Replaces the process with `file` run with `argv` (argv[0] included). Returns only by throwing, when execv fails. */
export type Exec = (file: string, argv: string[]) => never;

/**
 * The addon's exec, or null where it cannot be had: not built (a failed native build), not a
 * POSIX system, or CR_NATIVE=0 (which turns off cr's native code).
 */
export function loadExec(): Exec | null {
  if (process.env.CR_NATIVE === '0' || process.platform === 'win32') return null;
  // dist/scheduler/exec.js → <package root>/build/Release/cr_exec.node
  const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'Release', 'cr_exec.node');
  try {
    return (createRequire(import.meta.url)(file) as { exec: Exec }).exec;
  } catch {
    return null;
  }
}
