// Progress and log lines of one attempt, sent to the scheduler in batches (at most one Report
// in flight, one every REPORT_PERIOD_MS), kept while the scheduler cannot be reached and sent
// when it can again. A reply saying the attempt is stale ends it.
import { unary, type SchedulerClient } from '../proto/load.js';

const REPORT_PERIOD_MS = 200;
/** Lines kept while the scheduler is unreachable; older ones are dropped past this. */
const MAX_BUFFERED_LINES = 10_000;

export class Reporter {
  readonly #client: SchedulerClient;
  readonly #job: number;
  readonly #attempt: number;
  readonly #secret: string;
  readonly #onStale: () => void;
  #logs: string[] = [];
  #progress: number | null = null;
  #message = '';
  #dropped = 0;
  #timer: NodeJS.Timeout | null = null;
  #sending: Promise<void> | null = null;
  #closed = false;

  constructor(client: SchedulerClient, job: number, attempt: number, secret: string, onStale: () => void) {
    this.#client = client;
    this.#job = job;
    this.#attempt = attempt;
    this.#secret = secret;
    this.#onStale = onStale;
  }

  log(line: string): void {
    this.#logs.push(line);
    if (this.#logs.length > MAX_BUFFERED_LINES) {
      this.#logs.shift();
      this.#dropped++;
    }
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

  /** Sends what is buffered; resolves when sent (or when sending failed and was re-buffered). */
  async flush(): Promise<void> {
    while (this.#sending) await this.#sending;
    if (this.#logs.length === 0 && this.#progress === null && this.#dropped === 0) return;
    const logs = this.#dropped > 0 ? [`(${this.#dropped} log lines dropped while the scheduler was unreachable)`, ...this.#logs] : this.#logs;
    const progress = this.#progress;
    this.#logs = [];
    this.#progress = null;
    this.#dropped = 0;
    this.#sending = (async () => {
      try {
        const reply = await unary(this.#client, 'Report', { job: this.#job, attempt: this.#attempt, secret: this.#secret, progress: progress ?? -1, message: this.#message, logs });
        if (reply.stale) this.#onStale();
      } catch {
        // Unreachable: keep the lines for the next try.
        this.#logs = [...logs, ...this.#logs];
        this.#progress ??= progress;
        this.#arm();
      }
    })();
    await this.#sending;
    this.#sending = null;
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
