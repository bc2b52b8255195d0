// The agent's side of a job's process (job-process.ts): starts it with an environment that holds
// none of the agent's credentials, optionally under another uid (run-as.ts), relays its runner's
// events and outcome, and kills its whole process group when the attempt is cancelled or
// abandoned. Its face is the one-machine runner's (on, requestCheckpoint, requestStop, kill, run).
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RunEvent, RunOptions, RunOutcome } from '../../src/internal.js';
import type { FromJob, ToJob } from './job-messages.js';
import type { RunAs } from './run-as.js';

const JOB_PROCESS_FILE = fileURLToPath(new URL('./job-process.js', import.meta.url));
/** After its outcome, a job's process has this long to exit on its own before its group is killed. */
const EXIT_GRACE_MS = 5000;

/**
 * Variables of the library a job runs on that change how it checkpoints, never who it is: the
 * job's process keeps them, as `cr-scheduler run` would. Every other CR_* variable is the
 * agent's (token, token file, work and data directories, scheduler address) and is dropped.
 */
export const JOB_ENV_KEPT = new Set(['CR_NATIVE', 'CR_DIRTY', 'CR_CAPTURE', 'CR_DIRECT_WRITES', 'CR_DIRECT_READS', 'CR_SIMD']);

export interface JobIsolation {
  /** Run the job's process under this user; null: the agent's own user. */
  runAs: RunAs | null;
  /** Strings no variable of the job's environment may contain: the token, paths of the agent's secrets and directories. */
  hidden: string[];
}

/** The environment a job's process gets: the agent's, without its credentials. */
export function jobEnvironment(env: NodeJS.ProcessEnv, isolation: JobIsolation): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  const hidden = isolation.hidden.filter((s) => s.length > 0);
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (name.startsWith('CR_') && !JOB_ENV_KEPT.has(name)) continue;
    if (hidden.some((s) => value.includes(s))) continue;
    out[name] = value;
  }
  if (isolation.runAs) {
    out.HOME = isolation.runAs.home;
    out.USER = out.LOGNAME = isolation.runAs.user;
  }
  return out;
}

export class JobProcess {
  readonly #options: RunOptions;
  readonly #isolation: JobIsolation;
  readonly #cwd: string;
  readonly #listeners: ((event: RunEvent) => void)[] = [];
  #child: ChildProcess | null = null;
  #killed = false;
  /** The run is over and its group killed: its pid may since belong to another process. */
  #over = false;
  /** Requests made before the process started, sent once it has. */
  #pending: ToJob[] = [];

  constructor(options: RunOptions, isolation: JobIsolation, cwd: string) {
    this.#options = options;
    this.#isolation = isolation;
    this.#cwd = cwd;
  }

  /** The job process's id while it runs (tests look for it in /proc). */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  on(listener: (event: RunEvent) => void): this {
    this.#listeners.push(listener);
    return this;
  }

  requestCheckpoint(): void {
    this.#send({ type: 'checkpoint' });
  }

  requestStop(): void {
    this.#send({ type: 'stop' });
  }

  /** Ends the job's process and everything it started, now, without a checkpoint. */
  kill(): Promise<void> {
    this.#killed = true;
    this.#killGroup();
    return Promise.resolve();
  }

  run(): Promise<RunOutcome> {
    const runAs = this.#isolation.runAs;
    return new Promise<RunOutcome>((resolve) => {
      let outcome: RunOutcome | null = null;
      let settled = false;
      const settle = (o: RunOutcome): void => {
        if (settled) return;
        settled = true;
        // Whatever the job started in its group ends with it.
        this.#killGroup();
        this.#over = true;
        resolve(o);
      };
      const failed = (message: string): RunOutcome => ({ status: 'failed', error: { name: 'Error', code: null, message, stack: null }, attempts: 1 });
      if (this.#killed) {
        settle(failed("the job's process was killed before it started"));
        return;
      }
      // Its own process group (setsid), so that a cancel ends whatever the job started too. None
      // of the agent's Node flags (its collector, an inspector port): a job runs under Node's
      // defaults, as in `cr-scheduler run`.
      const child = spawn(process.execPath, [JOB_PROCESS_FILE], {
        cwd: this.#cwd,
        env: jobEnvironment(process.env, this.#isolation),
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
        detached: true,
        ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
      });
      this.#child = child;
      child.on('message', (message: FromJob) => {
        if (message.type === 'event') for (const listener of this.#listeners) listener(message.event);
        else if (message.type === 'outcome') {
          outcome = message.outcome;
          // It exits by itself; a process that lingers (a handle the job left open) is ended.
          setTimeout(() => settle(outcome!), EXIT_GRACE_MS).unref();
        }
      });
      child.on('error', (err) => settle(failed(`the job's process could not be started: ${err.message}`)));
      // 'close', not 'exit': it comes after the last message of the IPC channel.
      child.on('close', (code, signal) => {
        if (outcome !== null) settle(outcome);
        else if (this.#killed) settle(failed(`the job's process was killed`));
        else settle(failed(`the job's process ended (${signal ? `signal ${signal}` : `exit code ${code}`}) before the job did`));
      });
      this.#send({ type: 'run', options: this.#options });
      for (const message of this.#pending.splice(0)) this.#send(message);
    });
  }

  #send(message: ToJob): void {
    const child = this.#child;
    if (child === null) this.#pending.push(message);
    // A process that failed to start or just ended has nothing to be asked: its end is reported.
    else if (child.connected) child.send(message, () => undefined);
  }

  #killGroup(): void {
    const pid = this.#child?.pid;
    if (pid === undefined || this.#over) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  }
}
