// `cr-scheduler run --metrics-file FILE`: one JSON line per attempt start, checkpoint, restart
// and end of a local run, appended (docs/observability.md, "The metrics file"), so that a user of
// one machine can plot a job's timeline and `cr-scheduler report FILE` can sum it up.
//
// A run killed outright (kill -9, a machine failure) writes nothing as it dies. While a run lives
// the file's modification time is renewed every second, so the next run of the job knows when
// the last one was last alive (within a second) and how much work was lost since the image it
// restores. Each line is one write(2) with O_APPEND: a kill cannot leave half a line, and the
// reader passes over a torn last line (a machine that failed mid-write) with a note.
import fs from 'node:fs';
import type { RunEvent, RunOutcome } from '../src/internal.js';

export const METRICS_FILE_VERSION = 1;
/** How often a live run renews the file's modification time. */
export const HEARTBEAT_MS = 1000;

interface LineBase {
  v: number;
  /** ISO-8601 time the line describes. */
  at: string;
  job: string;
  attempt: number;
}

/** An attempt began computing (after its restore, if any). `restored`: the sequence of the image it resumed from. */
export interface StartLine extends LineBase {
  event: 'start' | 'resume';
  restored: number | null;
}

export interface CheckpointLine extends LineBase {
  event: 'checkpoint';
  sequence: number;
  kind: 'full' | 'incremental';
  /** Bytes of the image file, and of the state and region data it holds. */
  bytes: number;
  raw_bytes: number;
  pause_ms: number;
  commit_ms: number;
  /** The moment the image's state describes (the call to cr.checkpoint()); `at` is when it was durable. */
  safe_point_at: string;
}

/**
 * An attempt after a failure: the image it restored (null: from the beginning), when the failed
 * attempt was last known to run and why it ended, the work it had done since the restored image
 * (lost), and the time from the failure to this start (down).
 */
export interface RestartLine extends LineBase {
  event: 'restart';
  restored: number | null;
  failed_at: string;
  failure: string;
  lost_ms: number;
  down_ms: number;
}

/**
 * A checkpoint that failed on this machine (the job went on from its previous image): `stage`
 * `write` (its capture or write failed), the CrError's `code`, the system error under it
 * (`errno`: ENOSPC...; null if none) and the message the run warned with.
 */
export interface CheckpointFailedLine extends LineBase {
  event: 'checkpoint-failed';
  stage: 'write';
  code: string;
  errno: string | null;
  message: string;
}

/** The run ended: `killed` is a second Ctrl-C (stopped at once, without a checkpoint). */
export interface EndLine extends LineBase {
  event: 'end';
  outcome: 'succeeded' | 'stopped' | 'failed' | 'killed';
  error: string | null;
}

export type MetricsLine = StartLine | CheckpointLine | CheckpointFailedLine | RestartLine | EndLine;

/** A metrics file that cannot be read or written: the message names the file and line. */
export class MetricsFileError extends Error {
  readonly code = 'CR_METRICS_FILE';
}

/** Every line of a metrics file, checked; a torn last line is passed over and named in `notes`. */
export function readMetricsFile(file: string): { lines: MetricsLine[]; notes: string[] } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new MetricsFileError(e.code === 'ENOENT' ? `no metrics file at ${file}` : `cannot read ${file}: ${e.message}`, { cause: err });
  }
  const raw = text.split('\n');
  const notes: string[] = [];
  const lines: MetricsLine[] = [];
  raw.forEach((line, i) => {
    if (line === '') return;
    const last = i === raw.length - 1;
    try {
      lines.push(checkLine(JSON.parse(line) as unknown));
    } catch (err) {
      // Only the last line can be torn (its write never finished): anything else is not ours.
      if (last && err instanceof SyntaxError) notes.push(`${file}:${i + 1}: a line cut short (the run's machine failed while writing it) was passed over`);
      else throw new MetricsFileError(`${file}:${i + 1} is not a line of a cr metrics file: ${(err as Error).message}`);
    }
  });
  return { lines, notes };
}

function checkLine(value: unknown): MetricsLine {
  const o = value as Record<string, unknown>;
  if (typeof o !== 'object' || o === null) throw new Error('not a JSON object');
  if (o.v !== METRICS_FILE_VERSION) throw new Error(`version ${JSON.stringify(o.v)}, this cr reads version ${METRICS_FILE_VERSION}`);
  const need = (key: string, type: 'string' | 'number' | 'time' | 'count', nullable = false): void => {
    const v = o[key];
    if (nullable && v === null) return;
    const ok = type === 'string' ? typeof v === 'string' : type === 'time' ? typeof v === 'string' && Number.isFinite(Date.parse(v)) : type === 'count' ? Number.isSafeInteger(v) && (v as number) >= 0 : typeof v === 'number' && Number.isFinite(v) && v >= 0;
    if (!ok) throw new Error(`"${key}" is ${JSON.stringify(v)}, not ${type === 'time' ? 'an ISO-8601 time' : type === 'count' ? 'a whole number' : type === 'number' ? 'a number ≥ 0' : 'a string'}`);
  };
  need('at', 'time');
  need('job', 'string');
  need('attempt', 'count');
  switch (o.event) {
    case 'start':
    case 'resume':
      need('restored', 'count', true);
      break;
    case 'checkpoint':
      need('sequence', 'count');
      if (o.kind !== 'full' && o.kind !== 'incremental') throw new Error(`"kind" is ${JSON.stringify(o.kind)}, not full or incremental`);
      for (const key of ['bytes', 'raw_bytes', 'pause_ms', 'commit_ms']) need(key, 'number');
      need('safe_point_at', 'time');
      break;
    case 'checkpoint-failed':
      if (o.stage !== 'write') throw new Error(`"stage" is ${JSON.stringify(o.stage)}, not write`);
      need('code', 'string');
      need('errno', 'string', true);
      need('message', 'string');
      break;
    case 'restart':
      need('restored', 'count', true);
      need('failed_at', 'time');
      need('failure', 'string');
      need('lost_ms', 'number');
      need('down_ms', 'number');
      break;
    case 'end':
      if (!['succeeded', 'stopped', 'failed', 'killed'].includes(o.outcome as string)) throw new Error(`"outcome" is ${JSON.stringify(o.outcome)}`);
      need('error', 'string', true);
      break;
    default:
      throw new Error(`"event" is ${JSON.stringify(o.event)}, not start, resume, checkpoint, checkpoint-failed, restart or end`);
  }
  return o as unknown as MetricsLine;
}

/** Where the work since an image resumes: its safe point plus the pause it cost, if known. */
interface Resumable {
  safePointMs: number;
  pauseMs: number;
}

/** Appends the lines of one run of `job` as its runner's events arrive. */
export class MetricsFileWriter {
  readonly #file: string;
  readonly #job: string;
  readonly #fd: number;
  readonly #heartbeat: NodeJS.Timeout;
  /** The last line of this job before this run, and the file's mtime then: how the last run ended. */
  readonly #before: { last: MetricsLine | null; mtimeMs: number; segmentStartMs: number | null };
  /** Images this job's lines describe, by sequence. */
  readonly #images = new Map<number, Resumable>();
  #fresh = false;
  /** The start of the attempt now computing (ms), and the failure of the one before, if it failed here. */
  #segmentStartMs: number | null = null;
  #failure: { atMs: number; message: string } | null = null;
  #attempt = 0;
  readonly #warn: (message: string) => void;
  #broken = false;

  /** `warn`: told once if a line cannot be written (the run goes on without its metrics). */
  constructor(file: string, job: string, warn: (message: string) => void) {
    this.#file = file;
    this.#job = job;
    this.#warn = warn;
    let previous: MetricsLine[] = [];
    let mtimeMs = 0;
    if (fs.existsSync(file)) {
      previous = readMetricsFile(file).lines.filter((l) => l.job === job);
      mtimeMs = Math.floor(fs.statSync(file).mtimeMs); // whole ms, as the lines hold times
    }
    for (const l of previous) if (l.event === 'checkpoint') this.#images.set(l.sequence, { safePointMs: Date.parse(l.safe_point_at), pauseMs: l.pause_ms });
    const segment = previous.findLast((l) => l.event === 'start' || l.event === 'resume' || l.event === 'restart');
    this.#before = { last: previous.at(-1) ?? null, mtimeMs, segmentStartMs: segment ? Date.parse(segment.at) : null };
    try {
      this.#fd = fs.openSync(file, 'a', 0o644);
    } catch (err) {
      throw new MetricsFileError(`cannot open the metrics file ${file}: ${(err as Error).message}`, { cause: err });
    }
    this.#heartbeat = setInterval(() => this.#touch(), HEARTBEAT_MS).unref();
  }

  event(event: RunEvent, now = Date.now()): void {
    switch (event.type) {
      case 'discarded':
        this.#fresh = true;
        break;
      case 'started':
        this.#started(event.attempt, event.image === null ? null : { sequence: event.image.sequence, createdAt: event.image.createdAt }, now);
        break;
      case 'checkpoint': {
        const { info } = event;
        // Kept as the line has them, so that a restart in this run and one in the next agree.
        const safePointAt = new Date(now - info.totalMs).toISOString();
        this.#images.set(info.sequence, { safePointMs: Date.parse(safePointAt), pauseMs: round(info.pauseMs) });
        this.#write({
          v: METRICS_FILE_VERSION,
          event: 'checkpoint',
          at: new Date(now).toISOString(),
          job: this.#job,
          attempt: this.#attempt,
          sequence: info.sequence,
          kind: info.incremental ? 'incremental' : 'full',
          bytes: info.bytes,
          raw_bytes: info.rawBytes,
          pause_ms: round(info.pauseMs),
          commit_ms: round(info.commitMs),
          safe_point_at: safePointAt,
        });
        break;
      }
      case 'checkpoint-failed': {
        const { stage, code, errno, message } = event.failure;
        this.#write({ v: METRICS_FILE_VERSION, event: 'checkpoint-failed', at: new Date(now).toISOString(), job: this.#job, attempt: this.#attempt, stage, code, errno, message });
        break;
      }
      case 'attempt-failed':
        this.#failure = { atMs: now, message: event.error.message };
        break;
      default:
        break;
    }
  }

  #started(attempt: number, image: { sequence: number; createdAt: string } | null, now: number): void {
    this.#attempt = attempt;
    const failure = this.#failure ?? (this.#segmentStartMs === null && !this.#fresh ? this.#earlierFailure() : null);
    const failedSegmentMs = this.#segmentStartMs ?? this.#before.segmentStartMs;
    this.#failure = null;
    this.#segmentStartMs = now;
    const at = new Date(now).toISOString();
    const restored = image?.sequence ?? null;
    if (failure === null) {
      this.#write({ v: METRICS_FILE_VERSION, event: image === null ? 'start' : 'resume', at, job: this.#job, attempt, restored });
      return;
    }
    // The work the failed attempt did after the point this one resumes from.
    const known = image === null ? undefined : this.#images.get(image.sequence);
    const resumesAt = image === null ? -Infinity : known ? known.safePointMs + known.pauseMs : Date.parse(image.createdAt);
    const from = Math.max(failedSegmentMs ?? -Infinity, resumesAt);
    this.#write({
      v: METRICS_FILE_VERSION,
      event: 'restart',
      at,
      job: this.#job,
      attempt,
      restored,
      failed_at: new Date(failure.atMs).toISOString(),
      failure: failure.message,
      lost_ms: Number.isFinite(from) ? round(Math.max(0, failure.atMs - from)) : 0,
      down_ms: round(Math.max(0, now - failure.atMs)),
    });
  }

  /** How the previous run of this job ended, if it failed: from its end line, or, without one, from when it was last alive. */
  #earlierFailure(): { atMs: number; message: string } | null {
    const last = this.#before.last;
    if (last === null) return null;
    if (last.event === 'end') {
      if (last.outcome === 'failed') return { atMs: Date.parse(last.at), message: last.error ?? 'the run failed' };
      if (last.outcome === 'killed') return { atMs: Date.parse(last.at), message: 'stopped at once, without a checkpoint' };
      return null;
    }
    return { atMs: Math.max(Date.parse(last.at), this.#before.mtimeMs), message: 'the run ended without a word (killed, or its machine failed); the time is when it was last seen alive' };
  }

  /** How the run ended; nothing when no attempt started here (the job had finished before). */
  end(outcome: RunOutcome | { status: 'killed' }, now = Date.now()): void {
    if (this.#segmentStartMs === null) return;
    const error = outcome.status === 'failed' ? outcome.error.message : null;
    this.#write({ v: METRICS_FILE_VERSION, event: 'end', at: new Date(now).toISOString(), job: this.#job, attempt: this.#attempt, outcome: outcome.status, error });
    this.#segmentStartMs = null;
  }

  close(): void {
    clearInterval(this.#heartbeat);
    try {
      fs.closeSync(this.#fd);
    } catch {
      // already closed
    }
  }

  #write(line: MetricsLine): void {
    if (this.#broken) return;
    try {
      fs.writeSync(this.#fd, `${JSON.stringify(line)}\n`);
    } catch (err) {
      // The job matters more than its metrics: it goes on, and the user is told once.
      this.#broken = true;
      this.#warn(`cannot append to the metrics file ${this.#file} (${(err as Error).message}): no more lines are written to it in this run`);
    }
  }

  #touch(): void {
    try {
      const now = new Date();
      fs.futimesSync(this.#fd, now, now);
    } catch {
      // A missed heartbeat only makes the next run's estimate of this one's end earlier.
    }
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
