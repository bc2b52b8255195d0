// `agent --run-as USER`: the agent (root) runs its jobs' processes under another uid and gid, so
// that a job cannot open the agent's secret files (its token file, its certificate key, the
// cluster's image key: mode 0600, owned by the agent's user). The job's own directory (its store,
// with its own image key) is given to that user; the rest of the work directory it may pass
// through (mode 0711) and read the cached code in (0755), never list or write.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ClusterError } from '../cluster-errors.js';

export interface RunAs {
  user: string;
  uid: number;
  gid: number;
  home: string;
}

/** The user's uid, primary gid and home, as the system's user database (NSS: files, LDAP…) has them. */
export function resolveRunAs(user: string): RunAs {
  if (typeof process.getuid !== 'function') throw new ClusterError('--run-as needs a POSIX system (it switches the uid of job processes)');
  if (process.getuid() !== 0) {
    throw new ClusterError(`--run-as ${user} needs the agent to run as root (only root may start a process under another uid); this agent runs as uid ${process.getuid()}`);
  }
  if (!/^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$/.test(user)) throw new ClusterError(`--run-as: "${user}" is not a user name or uid`);
  let entry: string;
  try {
    entry = execFileSync('getent', ['passwd', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]!;
  } catch {
    throw new ClusterError(`--run-as: there is no user "${user}" on this machine (getent passwd ${user} found none); create one for jobs, e.g. "useradd --system --no-create-home cr-job"`);
  }
  const fields = entry.split(':');
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  if (fields.length < 7 || !Number.isInteger(uid) || !Number.isInteger(gid)) throw new ClusterError(`--run-as: cannot read the entry of user "${user}": ${entry}`);
  if (uid === 0) throw new ClusterError(`--run-as ${user}: that user is root (uid 0); jobs would reach every secret of the agent. Give a user of its own for jobs`);
  return { user: fields[0]!, uid, gid, home: fields[5]! };
}

/**
 * Makes the work directory passable to the job's user and the agent's secrets unreadable to it,
 * and refuses a set-up where the job could not reach its code (a directory on the way that the
 * user cannot search) or could read a secret (a token file readable by others).
 */
export function prepareWorkDir(workDir: string, runAs: RunAs, secretFiles: string[]): void {
  fs.mkdirSync(workDir, { recursive: true });
  fs.chmodSync(workDir, 0o711);
  for (const [dir, mode] of [['code', 0o755], ['jobs', 0o711]] as const) {
    fs.mkdirSync(path.join(workDir, dir), { recursive: true });
    fs.chmodSync(path.join(workDir, dir), mode);
  }
  if (fs.existsSync(path.join(workDir, 'tls'))) fs.chmodSync(path.join(workDir, 'tls'), 0o700);
  for (const file of secretFiles) {
    const stat = fs.statSync(file);
    if (stat.uid === runAs.uid || (stat.mode & 0o044) !== 0) {
      throw new ClusterError(
        `${file} is readable by jobs run as ${runAs.user} (owner uid ${stat.uid}, mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}): ` +
          `make it the agent's alone, e.g. "chown root ${file} && chmod 600 ${file}"`,
      );
    }
  }
  for (const dir of ancestors(path.resolve(workDir))) {
    if (!searchable(fs.statSync(dir), runAs)) {
      throw new ClusterError(`jobs run as ${runAs.user} cannot reach the work directory ${workDir}: they may not pass through ${dir}. Give others search permission (chmod o+x ${dir}) or choose a --work elsewhere`);
    }
  }
}

/** Gives a job's directory (its store and the images fetched into it) to the job's user. */
export function giveToJob(dir: string, runAs: RunAs): void {
  fs.chownSync(dir, runAs.uid, runAs.gid);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) giveToJob(file, runAs);
    else fs.lchownSync(file, runAs.uid, runAs.gid);
  }
}

function ancestors(dir: string): string[] {
  const all: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    all.push(d);
    if (path.dirname(d) === d) return all;
  }
}

/** Whether `runAs` may pass through a directory of this mode and owner (its supplementary groups and ACLs aside). */
function searchable(stat: fs.Stats, runAs: RunAs): boolean {
  if (stat.uid === runAs.uid) return (stat.mode & 0o100) !== 0;
  if (stat.gid === runAs.gid) return (stat.mode & 0o010) !== 0;
  return (stat.mode & 0o001) !== 0;
}
