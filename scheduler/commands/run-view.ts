// What `cr-scheduler run` shows on stderr while a job runs, from the runner's events: the job's
// log lines and warnings always, the progress bar on a terminal, a timestamped line per
// checkpoint and a progress line at most once a minute in a batch log (progress.ts decides how).
import type { RunEvent } from '../../src/internal.js';
import { formatBytes, formatMs, plural } from '../output.js';
import { ProgressScreen, type ScreenMode } from '../progress.js';
import { withRunRemedy } from './run-remedies.js';

export class RunView {
  readonly #job: string;
  readonly #screen: ProgressScreen;
  readonly #verbose: boolean;
  #lastMessage = '';
  #killed = false;
  /** The image the job would resume from now: the one it started from, then each it committed. */
  latestImage: string | null = null;

  constructor(job: string, mode: ScreenMode, verbose: boolean, screen?: ProgressScreen) {
    this.#job = job;
    this.#verbose = verbose;
    this.#screen = screen ?? new ProgressScreen({ mode, label: job });
  }

  /** A line above the bar (or alone, without one). */
  line(text: string): void {
    this.#screen.log(text);
  }

  /** The job's thread is being ended at once: its dying is what was asked, not a failure to report. */
  killed(): void {
    this.#killed = true;
  }

  event(event: RunEvent): void {
    switch (event.type) {
      case 'discarded': {
        const what = [event.images > 0 ? plural(event.images, 'image') : '', event.finished ? 'its recorded result' : ''].filter(Boolean);
        if (what.length > 0) this.line(`--fresh: deleted ${what.join(' and ')} of "${this.#job}"`);
        break;
      }
      case 'started':
        // Image errors already start with the file's name.
        for (const s of event.skipped) this.line(`warning: passed over ${s.error.startsWith(`${s.file}: `) ? s.error : `${s.file}: ${s.error}`}`);
        if (event.image) {
          this.latestImage = event.image.id;
          this.line(
            `resuming "${this.#job}" from image ${event.image.id} (taken ${event.image.createdAt}, ${formatBytes(event.image.bytes)})` +
              (event.attempt > 1 ? `, attempt ${event.attempt}` : ''),
          );
        } else if (event.attempt > 1) {
          this.line(`restarting "${this.#job}" from the beginning (no image yet), attempt ${event.attempt}`);
        }
        if (this.#verbose) this.line(`codec: ${event.codec}`);
        this.#screen.progress(0, this.#lastMessage);
        break;
      case 'progress':
        if (event.message !== null) this.#lastMessage = event.message;
        this.#screen.progress(event.fraction, this.#lastMessage);
        break;
      case 'log':
        this.line(event.line);
        break;
      case 'warning':
        this.line(`warning: ${event.message}`);
        break;
      case 'checkpoint': {
        const i = event.info;
        this.latestImage = i.id;
        const shared = i.incremental ? `, ${formatBytes(i.sharedBytes)} shared with older images` : '';
        const text = `checkpoint ${i.id}: ${formatBytes(i.rawBytes)} → ${formatBytes(i.bytes)} (${i.ratio.toFixed(2)}×${shared}); the job paused ${formatMs(i.pauseMs)}, durable after ${formatMs(i.totalMs)}`;
        if (this.#verbose) this.line(text);
        else this.#screen.report(text);
        break;
      }
      case 'attempt-failed': {
        // A job file that cannot load is said once, by the run's end, with its code frame.
        if (this.#killed || event.error.code === 'CR_JOB_FILE') break;
        this.#screen.stop();
        // The next line says where it restarts from: the latest image, or the beginning when there is none.
        const retry = event.retryInMs === null ? '' : event.retryInMs === 0 ? '; restarting now' : `; restarting in ${formatMs(event.retryInMs)}`;
        this.line(`attempt ${event.attempt} of "${this.#job}" failed: ${withRunRemedy(event.error.code, event.error.message)}${retry}`);
        break;
      }
      case 'stop-requested':
        break;
    }
  }

  /** Clears the bar: what is printed next stands on its own lines. */
  done(): void {
    this.#screen.stop();
  }
}
