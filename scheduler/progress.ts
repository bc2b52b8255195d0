// What a person sees while a job runs (`run`, `submit --watch`, `status --watch`): on a terminal,
// one progress bar at the bottom that owns the screen while it draws; in a pipe or a batch log,
// plain timestamped lines; with --quiet, neither.
//
// On a terminal every line goes above the bar through cli-progress's MultiBar `log()`, which clears
// the bar, writes the line and redraws the bar below it. (Its SingleBar instead returns the cursor
// to where the bar started, so lines printed meanwhile were overwritten.) Anything else written to
// the same terminal while the bar is shown — the job's console output forwarded from its thread,
// an error — is caught at process.stdout/stderr.write and goes the same way, so nothing is written
// around the bar. Once stopped, the bar is cleared and the streams are as they were.
import cliProgress from 'cli-progress';

export type ScreenMode = 'bar' | 'lines' | 'quiet';

/** A batch log gets a progress line at most this often. */
export const PROGRESS_LINE_EVERY_MS = 60_000;

export interface ScreenOptions {
  mode: ScreenMode;
  /** Shown before the bar and in progress lines: the job's name or id. */
  label: string;
  /** Default: process.stderr. */
  stream?: NodeJS.WriteStream;
  /** Default: Date.now (tests give their own clock). */
  now?: () => number;
  /** Lines mode: the least time between two progress lines. Default PROGRESS_LINE_EVERY_MS. */
  progressEveryMs?: number;
}

/** Bar on a terminal unless turned off; lines otherwise; nothing with --quiet. */
export function screenMode(opts: { quiet?: boolean; progress?: boolean; stream?: NodeJS.WriteStream }): ScreenMode {
  if (opts.quiet) return 'quiet';
  return opts.progress !== false && (opts.stream ?? process.stderr).isTTY === true ? 'bar' : 'lines';
}

/** `2026-12-06T04:55:12Z`: the wall time of a line in a batch log. */
export function timestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

type Write = (chunk: string | Uint8Array, encoding?: BufferEncoding | ((err?: Error | null) => void), cb?: (err?: Error | null) => void) => boolean;

export class ProgressScreen {
  readonly mode: ScreenMode;
  readonly #label: string;
  readonly #stream: NodeJS.WriteStream;
  readonly #now: () => number;
  readonly #everyMs: number;
  #multi: cliProgress.MultiBar | null = null;
  #bar: cliProgress.SingleBar | null = null;
  #lastProgressLine: number;
  /** The original write functions of the streams caught while the bar is shown. */
  readonly #caught = new Map<NodeJS.WriteStream, Write>();
  /** Text written to a caught stream that has not ended its line yet. */
  #partial = '';
  #onExit = (): void => this.stop();

  constructor(options: ScreenOptions) {
    this.mode = options.mode;
    this.#label = options.label;
    this.#stream = options.stream ?? process.stderr;
    this.#now = options.now ?? Date.now;
    this.#everyMs = options.progressEveryMs ?? PROGRESS_LINE_EVERY_MS;
    this.#lastProgressLine = this.#now();
  }

  /** A line (or several) that always shows: above the bar on a terminal. */
  log(text: string): void {
    if (this.#multi) {
      this.#multi.log(`${text}\n`);
      this.#multi.update();
    } else {
      this.#stream.write(`${text}\n`);
    }
  }

  /** A line of the batch log (a checkpoint, a state change): timestamped in lines mode, else not shown. */
  report(text: string): void {
    if (this.mode === 'lines') this.#stream.write(`${timestamp(this.#now())} ${text}\n`);
  }

  /** The bar's fraction and text; in lines mode a progress line at most every progressEveryMs. */
  progress(fraction: number, message: string): void {
    const clamped = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
    if (this.mode === 'bar') {
      this.#start();
      this.#bar!.update(clamped, { message });
    } else if (this.mode === 'lines') {
      const now = this.#now();
      if (now - this.#lastProgressLine < this.#everyMs) return;
      this.#lastProgressLine = now;
      this.#stream.write(`${timestamp(now)} ${this.#label} ${(clamped * 100).toFixed(0)}%${message ? ` ${message}` : ''}\n`);
    }
  }

  /** Clears the bar (it comes back at the next progress); lines printed afterwards stand alone. */
  stop(): void {
    if (!this.#multi) return;
    if (this.#partial !== '') {
      this.#multi.log(`${this.#partial}\n`);
      this.#partial = '';
    }
    this.#multi.update();
    this.#multi.stop();
    this.#multi = null;
    this.#bar = null;
    for (const [stream, write] of this.#caught) stream.write = write as typeof stream.write;
    this.#caught.clear();
    process.off('exit', this.#onExit);
  }

  #start(): void {
    if (this.#multi) return;
    const stream = this.#stream;
    const write = stream.write.bind(stream) as Write;
    // cli-progress draws through this view of the stream, so that its own writes are not caught.
    const target = {
      isTTY: true,
      get columns() {
        return stream.columns;
      },
      write,
    } as unknown as NodeJS.WriteStream;
    this.#multi = new cliProgress.MultiBar(
      {
        stream: target,
        format: `${this.#label} [{bar}] {percentage}% | {message}`,
        hideCursor: true,
        clearOnComplete: true,
        // Lines above the bar wrap as the terminal wraps them (the bar itself is cut to the width).
        linewrap: true,
        // A line printed above clears the bar: draw it again even when its text is unchanged.
        forceRedraw: true,
        // Redrawn 4 times a second (lines above it are written at once): a job of days is not
        // worth a busy terminal.
        fps: 4,
        gracefulExit: false,
      },
      cliProgress.Presets.shades_classic,
    );
    this.#bar = this.#multi.create(1, 0, { message: '' });
    for (const s of [process.stdout, process.stderr]) {
      if (s === stream || (s.isTTY === true && stream.isTTY === true)) this.#catch(s);
    }
    // A process that ends while the bar is shown gives the terminal its cursor back.
    process.once('exit', this.#onExit);
  }

  #catch(stream: NodeJS.WriteStream): void {
    this.#caught.set(stream, stream.write as Write);
    const caught: Write = (chunk, encoding, cb) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString(typeof encoding === 'string' ? encoding : 'utf8');
      const lines = (this.#partial + text).split('\n');
      this.#partial = lines.pop()!;
      if (lines.length > 0 && this.#multi) {
        for (const line of lines) this.#multi.log(`${line}\n`);
        this.#multi.update();
      }
      const done = typeof encoding === 'function' ? encoding : cb;
      if (done) process.nextTick(done);
      return true;
    };
    stream.write = caught as typeof stream.write;
  }
}
