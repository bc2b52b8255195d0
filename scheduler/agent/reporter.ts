// Progress and log lines of one attempt, sent to the scheduler in batches (at most one Report
// in flight, one every REPORT_PERIOD_MS, at most MAX_LINES_PER_REPORT lines in one), kept while
// the scheduler cannot be reached and sent when it can again. A reply saying the attempt is
// stale ends it. The lines waiting are bounded per attempt (lines and bytes): past the bound
// the oldest are dropped, and the next report says how many and why (the scheduler was
// unreachable, or the job logged faster than reports carry lines).
import { cutLogLine } from '../names.js';
import { unary, type SchedulerClient } from '../proto/load.js';

const REPORT_PERIOD_MS = 200;
/** Lines waiting to be sent, at most; older ones are dropped past this. */
export const MAX_BUFFERED_LINES = 10_000;
/** Characters of the lines waiting, at most. */
export const MAX_BUFFERED_CHARS = 8 << 20;
/** Lines in one Report, at most: a burst goes out over several. */
export const MAX_LINES_PER_REPORT = 2000;

export class Reporter {
  /** Asked at each send: the scheduler the agent is connected to changes when a standby takes over. */
  readonly #client: () => SchedulerClient;
  readonly #job: number;
  readonly #attempt: number;
  readonly #secret: string;
  readonly #onStale: () => void;
  #logs: string[] = [];
  #progress: number | null = null;
  #message = '';
  #bufferedChars = 0;
  /** Checkpoints failed since the last report, by stage: committed images given up uploading, images the job could not write. */
  #checkpointsFailed = { upload: 0, write: 0 };
  /** Lines dropped since the last report, by why: the last send had failed, or the job outran the reports. */
  #dropped = { unreachable: 0, fast: 0 };
  #unreachable = false;
  #timer: NodeJS.Timeout | null = null;
  #sending: Promise<void> | null = null;
  #closed = false;

  constructor(client: SchedulerClient | (() => SchedulerClient), job: number, attempt: number, secret: string, onStale: () => void) {
    this.#client = typeof client === 'function' ? client : () => client;
    this.#job = job;
    this.#attempt = attempt;
    this.#secret = secret;
    this.#onStale = onStale;
  }

  log(line: string): void {
    const cut = cutLogLine(line);
    this.#logs.push(cut);
    this.#bufferedChars += cut.length;
    this.#trim();
    this.#arm();
  }

  /** Drops the oldest lines past the bounds, counting them under the reason that holds now. */
  #trim(): void {
    let drop = 0;
    while (this.#logs.length - drop > MAX_BUFFERED_LINES || (this.#bufferedChars > MAX_BUFFERED_CHARS && this.#logs.length - drop > 1)) {
      this.#bufferedChars -= this.#logs[drop]!.length;
      drop++;
    }
    if (drop > 0) {
      this.#logs.splice(0, drop);
      this.#dropped[this.#unreachable ? 'unreachable' : 'fast'] += drop;
    }
  }

  /** The lines that tell the reader lines are missing, how many and why. */
  #dropNotices(): string[] {
    const lines = (n: number): string => `${n} log line${n === 1 ? '' : 's'}`;
    const notices: string[] = [];
    if (this.#dropped.unreachable > 0) notices.push(`[cr] ${lines(this.#dropped.unreachable)} dropped while the scheduler was unreachable (at most ${MAX_BUFFERED_LINES} wait per job)`);
    if (this.#dropped.fast > 0) notices.push(`[cr] ${lines(this.#dropped.fast)} dropped: the job logged faster than they could be sent (at most ${MAX_BUFFERED_LINES} wait per job)`);
    return notices;
  }

  /** A committed image that could not be uploaded (`upload`), or a checkpoint the job could not write here (`write`): counted in the next report (the scheduler's metrics). */
  checkpointFailed(stage: 'upload' | 'write'): void {
    this.#checkpointsFailed[stage]++;
    this.#arm();
  }

  progress(fraction: number, message: string | null): void {
    this.#progress = fraction;
    if (message !== null) this.#message = message;
    this.#arm();
  }

  #arm(): void {
    // Closed: a send that fails after close must not arm a timer that keeps the process alive.
    if (this.#closed) return;
    this.#timer ??= setTimeout(() => {
      this.#timer = null;
      void this.flush();
    }, REPORT_PERIOD_MS);
  }

  /** Sends what is buffered, in as many reports as it takes; resolves when sent (or when sending failed and was re-buffered). */
  async flush(): Promise<void> {
    while (await this.#sendBatch()) {
      // the next batch
    }
  }

  /** Sends one report's worth; true when it was sent and more lines wait. */
  async #sendBatch(): Promise<boolean> {
    while (this.#sending) await this.#sending;
    if (this.#logs.length === 0 && this.#progress === null && this.#dropped.unreachable + this.#dropped.fast === 0 && this.#checkpointsFailed.upload + this.#checkpointsFailed.write === 0) return false;
    const batch = this.#logs.splice(0, MAX_LINES_PER_REPORT);
    this.#bufferedChars -= batch.reduce((sum, l) => sum + l.length, 0);
    const logs = [...this.#dropNotices(), ...batch];
    const dropped = this.#dropped;
    const progress = this.#progress;
    this.#progress = null;
    const checkpointsFailed = this.#checkpointsFailed;
    this.#checkpointsFailed = { upload: 0, write: 0 };
    this.#dropped = { unreachable: 0, fast: 0 };
    this.#sending = (async () => {
      try {
        const reply = await unary(this.#client(), 'Report', { job: this.#job, attempt: this.#attempt, secret: this.#secret, progress: progress ?? -1, message: this.#message, logs, checkpointsFailed: checkpointsFailed.upload, checkpointWritesFailed: checkpointsFailed.write });
        this.#unreachable = false;
        if (reply.stale) this.#onStale();
      } catch {
        // Unreachable (or refused, its disk full): keep the lines for the next try (the notice
        // is rebuilt from the count, so it is not kept as a line).
        this.#unreachable = true;
        this.#logs = [...batch, ...this.#logs];
        this.#bufferedChars += batch.reduce((sum, l) => sum + l.length, 0);
        this.#dropped.unreachable += dropped.unreachable;
        this.#dropped.fast += dropped.fast;
        this.#trim();
        this.#progress ??= progress;
        this.#checkpointsFailed.upload += checkpointsFailed.upload;
        this.#checkpointsFailed.write += checkpointsFailed.write;
        this.#arm();
      }
    })();
    await this.#sending;
    this.#sending = null;
    return !this.#unreachable && this.#logs.length > 0;
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
