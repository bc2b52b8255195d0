// A real single-node Slurm for the tests: munged with a fresh key on a socket of its own, and
// slurmctld and slurmd as root with a config in a temp directory (absolute paths, ports of their
// own), so nothing of the machine's own Slurm or munge is used or touched. Every daemon and
// every job the test started is stopped in its teardown, also when the test fails.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import { HANG_GUARD_MS, sleep } from '../../runner/helpers.js';
import { freePort } from '../helpers.js';

const run = promisify(execFile);

const NEEDED = ['/usr/sbin/slurmctld', '/usr/sbin/slurmd', '/usr/sbin/munged', '/usr/sbin/mungekey', '/usr/bin/sbatch', '/usr/bin/scontrol', '/usr/bin/scancel', '/usr/bin/sinfo'];
export const INSTALL_HINT = 'install them with "apt-get install -y slurm-wlm munge" (Debian; .ci/run does it), as root';

/** Why a real Slurm cannot run here, or null when it can. */
export function slurmUnavailable(): string | null {
  const missing = NEEDED.filter((f) => !fs.existsSync(f));
  if (missing.length > 0) return `Slurm or munge is not installed (${missing.join(', ')} missing): ${INSTALL_HINT}`;
  if (process.getuid?.() !== 0) return 'slurmctld and slurmd run as root here (SlurmUser=root), and these tests are not root';
  return null;
}

export interface Slurm {
  /** SLURM_CONF and the rest the client commands need. */
  env: NodeJS.ProcessEnv;
  dir: string;
  node: string;
  /** Submits a script file; returns the job id. The teardown cancels it. */
  sbatch(script: string, extra?: string[]): Promise<number>;
  /** `scontrol show job` as key → value; null once Slurm has forgotten the job. */
  job(id: number): Promise<Record<string, string> | null>;
  /**
   * Slurm holds a requeued batch job for about two minutes (its begin time) before it may start
   * again; the tests do not wait for that: a held job is made eligible 3 s after it is seen held.
   */
  hurry(id: number): Promise<void>;
  /** Sends `signal` to the job's batch shell alone (`scancel --batch`), the way --signal=B:… does. */
  signalBatch(id: number, signal: string): Promise<void>;
  /** The daemons' logs, for a failure message. */
  logs(): string;
}

/** Starts munged, slurmctld and slurmd; resolves once the node is idle. */
export async function startSlurm(t: ExecutionContext): Promise<Slurm> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-slurm-'));
  const daemons: ChildProcess[] = [];
  const jobs = new Set<number>();
  const node = (await run('hostname', ['-s'])).stdout.trim();
  const conf = path.join(dir, 'slurm.conf');
  const env = { ...process.env, SLURM_CONF: conf };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Jobs first (slurmd ends their steps), then the daemons, newest first.
    if (jobs.size > 0) await run('/usr/bin/scancel', [...jobs].map(String), { env }).catch(() => undefined);
    for (let i = 0; i < 100 && jobs.size > 0; i++) {
      const states = await Promise.all([...jobs].map(async (id) => (await jobOf(id))?.JobState ?? 'GONE'));
      if (states.every((s) => !/^(RUNNING|COMPLETING|PENDING|REQUEUED|CONFIGURING)/.test(s))) break;
      await sleep(100);
    }
    for (const child of daemons.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  t.teardown(stop);
  const hurried = new Map<string, number>();
  const jobOf = async (id: number): Promise<Record<string, string> | null> => {
    try {
      const { stdout } = await run('/usr/bin/scontrol', ['show', 'job', '-o', String(id)], { env });
      const fields: Record<string, string> = {};
      for (const m of stdout.trim().matchAll(/(\w+(?::\w+)?)=(\S*)/g)) fields[m[1]!] ??= m[2]!;
      return fields;
    } catch {
      return null; // "Invalid job id specified": purged
    }
  };
  const logFile = (name: string): string => path.join(dir, 'log', name);
  const logs = (): string =>
    ['munged.log', 'slurmctld.log', 'slurmd.log']
      .map((name) => `--- ${name} ---\n${fs.existsSync(logFile(name)) ? fs.readFileSync(logFile(name), 'utf8').slice(-4000) : '(none)'}`)
      .join('\n');
  // Each daemon runs under a small shell that ends it when its stdin closes: when the test ends,
  // and also when the test's process dies without a teardown (ava's timeout, a crash), so that
  // no daemon outlives the test.
  const daemon = (file: string, args: string[], options: { uid?: number; gid?: number } = {}): void => {
    const child = spawn('/bin/bash', ['-c', '"$@" & pid=$!; read -r _; kill -TERM "$pid"; wait "$pid"', 'daemon', file, ...args], { ...options, env, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('exit', (code, signal) => {
      if (!stopped) t.log(`${path.basename(file)} exited early (${code ?? signal}): ${stderr.slice(-2000)}`);
    });
    daemons.push(child);
  };

  for (const sub of ['munge', 'log', 'state', 'spool']) fs.mkdirSync(path.join(dir, sub));
  fs.chmodSync(dir, 0o755);
  // munged runs as the munge user and checks that its files are its own and private.
  const uid = Number((await run('id', ['-u', 'munge'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'munge'])).stdout.trim());
  const mungeDir = path.join(dir, 'munge');
  const key = path.join(mungeDir, 'munge.key');
  const socket = path.join(mungeDir, 'munge.socket');
  await run('/usr/sbin/mungekey', ['--create', '--force', '--keyfile', key]);
  fs.chmodSync(mungeDir, 0o755);
  for (const f of [mungeDir, key]) fs.chownSync(f, uid, gid);
  const mungeLog = logFile('munged.log');
  fs.writeFileSync(mungeLog, '');
  fs.chownSync(mungeLog, uid, gid);
  daemon(
    '/usr/sbin/munged',
    ['--foreground', '--force', `--socket=${socket}`, `--key-file=${key}`, `--pid-file=${path.join(mungeDir, 'munged.pid')}`, `--log-file=${mungeLog}`, `--seed-file=${path.join(mungeDir, 'munged.seed')}`],
    { uid, gid },
  );
  await waitFile(socket, 'munged to open its socket', logs);

  const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
  fs.writeFileSync(
    conf,
    [
      'ClusterName=crtest',
      `SlurmctldHost=${node}(127.0.0.1)`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${slurmdPort}`,
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${socket}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      `StateSaveLocation=${path.join(dir, 'state')}`,
      `SlurmdSpoolDir=${path.join(dir, 'spool')}`,
      `SlurmctldPidFile=${path.join(dir, 'slurmctld.pid')}`,
      `SlurmdPidFile=${path.join(dir, 'slurmd.pid')}`,
      `SlurmctldLogFile=${logFile('slurmctld.log')}`,
      `SlurmdLogFile=${logFile('slurmd.log')}`,
      `PlugStackConfig=${path.join(dir, 'plugstack.conf')}`,
      'MpiDefault=none',
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'JobCompType=jobcomp/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU',
      'SchedulerType=sched/backfill',
      'ReturnToService=2',
      'MinJobAge=600',
      'KillWait=10',
      'InactiveLimit=0',
      `NodeName=${node} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN`,
      `PartitionName=test Nodes=${node} Default=YES MaxTime=INFINITE State=UP`,
      '',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'plugstack.conf'), '');
  daemon('/usr/sbin/slurmctld', ['-D', '-c', '-f', conf]);
  daemon('/usr/sbin/slurmd', ['-D', '-f', conf, '-N', node]);
  const ready = Date.now();
  for (;;) {
    const state = await run('/usr/bin/sinfo', ['-h', '-N', '-o', '%T'], { env }).then(
      (r) => r.stdout.trim(),
      (err: Error) => err.message,
    );
    if (state === 'idle') break;
    if (Date.now() - ready > HANG_GUARD_MS) throw new Error(`the Slurm node did not become idle (sinfo: ${state})\n${logs()}`);
    await sleep(250);
  }
  return {
    env,
    dir,
    node,
    logs,
    job: jobOf,
    async hurry(id: number): Promise<void> {
      const j = await jobOf(id);
      if (j?.JobState !== 'PENDING' || j.Reason !== 'BeginTime') return;
      // Slurm holds a requeued job ~2 min so that the node's revocation of the old run's credential
      // (kept with a one-second clock) cannot catch the new run's. Shorten the hold, not remove it:
      // start it 3 s after it was first seen held (per restart), never within the revoking second.
      const key = `${id}:${j.Restarts ?? ''}`;
      let at = hurried.get(key);
      if (at === undefined) {
        at = Math.floor(Date.now() / 1000) + 3;
        hurried.set(key, at);
        await run('/usr/bin/scontrol', ['update', `JobId=${id}`, `StartTime=${slurmTime(at)}`], { env }).catch(() => undefined);
      }
    },
    async signalBatch(id: number, signal: string): Promise<void> {
      await run('/usr/bin/scancel', ['--batch', `--signal=${signal}`, String(id)], { env });
    },
    async sbatch(script: string, extra: string[] = []): Promise<number> {
      const { stdout } = await run('/usr/bin/sbatch', ['--parsable', ...extra, script], { env });
      const id = Number(stdout.trim().split(';')[0]);
      jobs.add(id);
      return id;
    },
  };
}

async function waitFile(file: string, what: string, logs: () => string): Promise<void> {
  const started = Date.now();
  while (!fs.existsSync(file)) {
    if (Date.now() - started > HANG_GUARD_MS) throw new Error(`timed out waiting for ${what}\n${logs()}`);
    await sleep(50);
  }
}

/** A time as scontrol takes it: local time, YYYY-MM-DDTHH:MM:SS. */
function slurmTime(seconds: number): string {
  const d = new Date(seconds * 1000);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
