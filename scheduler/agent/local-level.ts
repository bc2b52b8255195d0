// The first level of a job's images on a node (SCR and VeloC call these levels): each job's
// latest image that the scheduler accepted, with the images it shares blocks with, kept under
// <work>/images/job-N/ after its attempt's own directory is gone. A job that restarts on this
// node restores from here without a download. A copy is used only when it is the image the
// scheduler planned: its sequence, and the sha256 of its bytes as they are copied out, which
// must be the one the scheduler recorded (a damaged or replaced copy is removed and the image
// is read from the next level instead).
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { copyHashed } from '../images/directory.js';
import { digestKind } from '../images/digest.js';
import { storeJobName } from '../names.js';
import { paddedSequence } from '../../src/internal.js';

export class LocalLevel {
  constructor(readonly dir: string) {}

  #jobDir(job: number): string {
    return path.join(this.dir, storeJobName(job));
  }

  #file(job: number, sequence: number, sha256: string): string {
    return path.join(this.#jobDir(job), `${paddedSequence(sequence)}-${sha256}.crimg`);
  }

  /**
   * Keeps a copy of image `sequence` of `job` (at `file`, accepted by the scheduler with
   * `sha256`), and only the images it needs (`bases`): the job's older copies go.
   */
  async keep(job: number, sequence: number, sha256: string, file: string, bases: readonly number[]): Promise<void> {
    const dir = this.#jobDir(job);
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    const target = this.#file(job, sequence, sha256);
    const temp = `${target}.${process.pid}.tmp`;
    await fsp.rm(temp, { force: true });
    try {
      const copied = await copyHashed(file, temp, 'wx', false, kindOf(sha256));
      // The file changed since the scheduler accepted it: no copy is better than a wrong one.
      if (copied.sha256 !== sha256) throw new Error(`image ${sequence} of job ${job} changed on disk after it was stored`);
      await fsp.rename(temp, target);
    } catch (err) {
      await fsp.rm(temp, { force: true });
      throw err;
    }
    const needed = new Set([sequence, ...bases]);
    for (const name of await fsp.readdir(dir)) {
      const m = /^(\d{8,})-[0-9a-f]{64}(-[0-9]+)?\.crimg$/.exec(name);
      if (m !== null && !needed.has(Number(m[1]))) await fsp.rm(path.join(dir, name), { force: true });
    }
  }

  /**
   * Copies the kept image `sequence` of `job` to `file` if this node has it with `sha256`;
   * false (and nothing at `file`) when it has not, or its copy no longer hashes to it.
   */
  async take(job: number, image: { sequence: number; sha256: string }, file: string): Promise<boolean> {
    const source = this.#file(job, image.sequence, image.sha256);
    if (!fs.existsSync(source)) return false;
    const temp = `${file}.${process.pid}.local`;
    try {
      await fsp.mkdir(path.dirname(file), { recursive: true });
      const copied = await copyHashed(source, temp, 'wx', false, kindOf(image.sha256));
      if (copied.sha256 !== image.sha256) {
        await fsp.rm(source, { force: true });
        return false;
      }
      await fsp.rename(temp, file);
      return true;
    } catch {
      return false;
    } finally {
      await fsp.rm(temp, { force: true });
    }
  }

  /** The job ended: its copies go. */
  forget(job: number): void {
    fs.rmSync(this.#jobDir(job), { recursive: true, force: true });
  }
}

/** The kind of digest the scheduler recorded; one it could not have recorded matches no copy. */
function kindOf(recorded: string): 'pieces' | 'sha256' {
  const kind = digestKind(recorded);
  if (kind === null) throw new Error(`${JSON.stringify(recorded.slice(0, 80))} is not an image digest`);
  return kind;
}
