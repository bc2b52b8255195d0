// `cr-scheduler run job.mjs`: runs a job on this machine, no server, restarting it from its
// latest image when it dies. The result goes to stdout as JSON; everything else to stderr.
import path from 'node:path';
import fs from 'node:fs';
import { Command, Option } from 'commander';
import { CrError } from '../../src/index.js';
import { checkJobName, DEFAULT_FULL_EVERY, DEFAULT_INTERVAL_MS, DEFAULT_KEEP_IMAGES, JobRunner, MAX_LEVEL, MIN_LEVEL, resolvePolicyOptions, type RunOptions } from '../../src/internal.js';
import { codeIdentity } from '../code-identity.js';
import { MetricsFileWriter } from '../metrics-file.js';
import { commandLine, givenOptions, invokedAs } from '../invocation.js';
import { plural, toJson, UsageError } from '../output.js';
import { MAX_TIMER_SECONDS, parseCount, parseJsonText, parseNonNegativeNumber, parsePath, parsePositiveNumber } from '../options.js';
import { screenMode } from '../progress.js';
import { EXIT_STOPPED, EXIT_STOPPED_AT_ONCE, onSignals, parseSignal, signalPlan, type NamedSignal } from '../signals.js';
import { withRunRemedy } from './run-remedies.js';
import { RunView } from './run-view.js';

export const DEFAULT_STORE = '.cr';

interface RunFlags {
  /** JSON text, checked when parsed (commander would turn a parsed `null` into ""). */
  args: string;
  name?: string;
  store: string;
  interval: number;
  every?: number;
  mtbf?: number;
  retries: number;
  retryDelay: number;
  from?: string;
  fresh?: boolean;
  allowCodeChange?: boolean;
  keep: number;
  fullEvery: number;
  dirty: 'auto' | 'hash';
  capture: 'auto' | 'cow' | 'stage';
  keyFile?: string;
  level: number;
  codec: 'auto' | 'native' | 'portable';
  maxHeap?: number;
  progress: boolean;
  quiet?: boolean;
  stopSignal: NamedSignal;
  checkpointSignal?: NamedSignal;
  metricsFile?: string;
}

export function runCommand(verbose: () => boolean): Command {
  return new Command('run')
    .description('run a job on this machine, checkpointing it and restarting it from its latest image when it dies')
    .argument('<job>', 'the job module (an ES module whose default export is async (cr, args) => result)')
    .addOption(new Option('--args <json>', "the job's arguments, as JSON").argParser(parseJsonText).default('{}', '{}'))
    .addOption(new Option('--name <name>', "the job's name in the store (default: the file's base name)"))
    .addOption(new Option('--store <dir>', 'where images are kept').env('CR_STORE').argParser(parsePath('--store')).default(DEFAULT_STORE))
    .addOption(
      new Option('--interval <seconds>', 'take a checkpoint when this much time passed since the last one')
        .env('CR_INTERVAL')
        .argParser(parsePositiveNumber('--interval'))
        .default(DEFAULT_INTERVAL_MS / 1000),
    )
    .addOption(new Option('--every <n>', 'also take a checkpoint every n safe points').argParser(parseCount('--every', 1)))
    .addOption(
      new Option('--mtbf <seconds>', "the machine's mean time between failures: sets the interval by Young's formula from the measured checkpoint cost")
        .env('CR_MTBF')
        .argParser(parsePositiveNumber('--mtbf')),
    )
    .addOption(new Option('--retries <n>', 'restarts after the job dies').env('CR_RETRIES').argParser(parseCount('--retries')).default(3))
    .addOption(new Option('--retry-delay <seconds>', 'wait before the first restart; doubles each time').argParser(parseNonNegativeNumber('--retry-delay', MAX_TIMER_SECONDS)).default(1))
    .addOption(new Option('--from <image>', 'resume from this image file instead of the latest').argParser(parsePath('--from')))
    .addOption(new Option('--fresh', "delete the job's images and finished result, and start over").conflicts('from'))
    .addOption(new Option('--allow-code-change', "resume from images the job's previous code made (never from other args)"))
    .addOption(new Option('--keep <n>', 'images kept per job').env('CR_KEEP').argParser(parseCount('--keep', 1)).default(DEFAULT_KEEP_IMAGES))
    .addOption(
      new Option('--full-every <n>', 'every nth image is full; those between share unchanged blocks with older images (1: always full)')
        .env('CR_FULL_EVERY')
        .argParser(parseCount('--full-every', 1))
        .default(DEFAULT_FULL_EVERY),
    )
    .addOption(
      new Option('--dirty <how>', 'how changed blocks are found: kernel dirty tracking where available, or block hashes')
        .choices(['auto', 'hash'])
        .env('CR_DIRTY')
        .default('auto'),
    )
    .addOption(
      new Option('--capture <how>', 'how regions are captured at a checkpoint: copy-on-write where it pays, always where possible, or copied at the safe point')
        .choices(['auto', 'cow', 'stage'])
        .env('CR_CAPTURE')
        .default('auto'),
    )
    .addOption(new Option('--key-file <file>', 'the image key (default: <store>/.key, created on first use)').env('CR_KEY_FILE').argParser(parsePath('--key-file')))
    .addOption(new Option('--level <n>', `zstd compression level, ${MIN_LEVEL} to ${MAX_LEVEL}: 1 is the fastest; 2 and up also compress the noisier parts of numeric data, for smaller images at about 1.5x the CPU time`).argParser(parseCount('--level', 1)).default(1))
    .addOption(new Option('--codec <codec>', 'block codec').choices(['auto', 'native', 'portable']).env('CR_CODEC').default('auto'))
    .addOption(new Option('--max-heap <MiB>', "V8 heap limit of the job's thread").argParser(parseCount('--max-heap', 16)))
    .addOption(new Option('--no-progress', 'no progress bar, even on a terminal: lines as in a batch log'))
    .addOption(new Option('-q, --quiet', 'no progress bar and no progress or checkpoint lines (the job\'s own log lines, warnings and errors still show)'))
    .addOption(
      new Option('--stop-signal <signal>', 'also this signal means "checkpoint at the next safe point, then stop" (SIGTERM and SIGINT always do), e.g. SIGUSR1 for sbatch --signal=B:USR1@120')
        .env('CR_STOP_SIGNAL')
        .argParser(parseSignal('--stop-signal'))
        .default('SIGTERM'),
    )
    .addOption(new Option('--metrics-file <file>', 'append a JSON line per attempt, checkpoint, restart and end to FILE ("cr-scheduler report FILE" sums it up)').env('CR_METRICS_FILE').argParser(parsePath('--metrics-file')))
    .addOption(new Option('--checkpoint-signal <signal>', 'this signal means "checkpoint at the next safe point and go on"').env('CR_CHECKPOINT_SIGNAL').argParser(parseSignal('--checkpoint-signal')))
    .addHelpText(
      'after',
      `
Examples:
  $ cr-scheduler run examples/heat2d.mjs --args '{"n": 512, "steps": 2000}'
  $ cr-scheduler run job.mjs --interval 300 --retries 5
  $ cr-scheduler run job.mjs --from .cr/job/00000007.crimg

Running the same command again after the process died resumes from the latest image; after the
job finished, it prints the recorded result without computing. Images made with other --args or
code are not resumed (see --fresh, --name, --allow-code-change).
On a terminal a progress bar shows; otherwise (a pipe, a batch log) a timestamped line per
checkpoint and a progress line at most once a minute.
SIGINT, SIGTERM or the --stop-signal: checkpoint at the next safe point, then stop (a second
one stops at once, exit ${EXIT_STOPPED_AT_ONCE}). The --checkpoint-signal: checkpoint at the next safe point and go on.
Exit status: 0 when the job succeeded, ${EXIT_STOPPED} when it stopped after a signal and resumes when run
again (EX_TEMPFAIL: batch scripts requeue on it, see docs/hpc.md), 1 when it failed or was not
run (other args or code than its images'), 2 on a usage error.`,
    )
    .action(async (file: string, flags: RunFlags, command: Command) => {
      process.exitCode = await run(file, flags, verbose(), command);
    });
}

async function run(file: string, flags: RunFlags, verbose: boolean, command: Command): Promise<number> {
  if (!fs.existsSync(file)) throw new UsageError(`no job file at ${file}`);
  const job = flags.name ?? path.basename(file).replace(/\.[cm]?[jt]s$/, '');
  try {
    checkJobName(job);
  } catch (err) {
    throw new UsageError(`${(err as Error).message}; pick one with --name`);
  }
  if (flags.from && !fs.existsSync(flags.from)) throw new UsageError(`no image at ${flags.from}`);
  if (flags.from && !fs.statSync(flags.from).isFile()) throw new UsageError(`--from ${flags.from} is not an image file`);
  if (flags.level > MAX_LEVEL) throw new UsageError(`--level must be from ${MIN_LEVEL} to ${MAX_LEVEL}, got ${flags.level}`);
  if (flags.keyFile && !fs.existsSync(flags.keyFile)) throw new UsageError(`no key file at ${flags.keyFile}`);
  const options: RunOptions = {
    jobFile: file,
    args: JSON.parse(flags.args) as unknown,
    job,
    storeDir: flags.store,
    keyFile: flags.keyFile ?? null,
    keepImages: flags.keep,
    fullEvery: flags.fullEvery,
    dirty: flags.dirty,
    capture: flags.capture,
    policy: resolvePolicyOptions({
      intervalMs: flags.interval * 1000,
      everyCalls: flags.every ?? null,
      mtbfMs: flags.mtbf ? flags.mtbf * 1000 : null,
    }),
    retries: flags.retries,
    retryDelayMs: flags.retryDelay * 1000,
    from: flags.from ?? null,
    fresh: flags.fresh === true,
    code: await codeIdentity(file),
    allowCodeChange: flags.allowCodeChange === true,
    level: flags.level,
    codec: flags.codec,
    maxHeapMb: flags.maxHeap ?? null,
  };
  const runner = new JobRunner(options);
  const view = new RunView(job, screenMode(flags), verbose);
  runner.on((event) => view.event(event));
  const metrics = flags.metricsFile ? new MetricsFileWriter(flags.metricsFile, job, (message) => view.line(`warning: ${message}`)) : null;
  if (metrics) runner.on((event) => metrics.event(event));
  const closeMetrics = (): void => metrics?.close();
  // The same command, the way the user started cr, with the options that shape the run: the same
  // arguments and key, or the rerun is another computation (or cannot read the images).
  const resume = commandLine([...invokedAs(), 'run', file, ...givenOptions(command, ['--from', '--fresh'])]);
  let killed = false;
  let killedNoted = false;
  // Said once, by whichever comes first: the killed thread's end, or the run's.
  const noteKilled = (): void => {
    if (killedNoted) return;
    killedNoted = true;
    metrics?.end({ status: 'killed' });
    view.done();
    const from = view.latestImage ? `from image ${view.latestImage}` : 'from the beginning (it has no image yet)';
    view.line(`job "${job}" stopped without a checkpoint. It resumes ${from} with:\n  ${resume}`);
  };

  const removeHandlers = onSignals(signalPlan(flags.stopSignal, flags.checkpointSignal ?? null), {
    stop: (signal, count) => {
      if (count === 1) {
        view.line(`${signal}: checkpointing "${job}" at its next safe point, then stopping (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again stops at once)`);
        runner.requestStop();
      } else {
        view.line(`${signal} again: stopping "${job}" at once, without a checkpoint`);
        killed = true;
        view.killed();
        // Waiting for the run to return could take a restart's delay: exit once the thread is gone.
        void runner.kill().finally(() => {
          noteKilled();
          process.exit(EXIT_STOPPED_AT_ONCE);
        });
      }
    },
    checkpoint: (signal) => {
      view.line(`${signal}: checkpointing "${job}" at its next safe point and going on`);
      runner.requestCheckpoint();
    },
  });
  try {
    const outcome = await runner.run().catch((err: unknown) => {
      if (err instanceof CrError) err.message = withRunRemedy(err.code, err.message);
      throw err;
    });
    metrics?.end(outcome); // after a second Ctrl-C it was ended as killed, and this adds nothing
    view.done();
    if (killed) {
      noteKilled();
      return EXIT_STOPPED_AT_ONCE;
    }
    switch (outcome.status) {
      case 'succeeded':
        if (outcome.earlier) {
          const e = outcome.earlier;
          view.line(`"${job}" finished at ${e.finishedAt} after ${e.attempts} attempt${e.attempts === 1 ? '' : 's'}; its result:`);
        }
        process.stdout.write(`${toJson(outcome.result ?? null)}\n`);
        if (outcome.attempts > 1) view.line(`job "${job}" succeeded after ${outcome.attempts} attempts`);
        return 0;
      case 'stopped':
        view.line(
          outcome.imageId
            ? `job "${job}" stopped after checkpoint ${outcome.imageId}. Resume it with:\n  ${resume}`
            : `job "${job}" stopped; its checkpoint failed, so it will resume from its previous image with:\n  ${resume}`,
        );
        return EXIT_STOPPED;
      case 'failed': {
        const e = outcome.error;
        if (e.code === 'CR_IDENTITY_MISMATCH') {
          view.line(
            `job "${job}" was not run: ${e.message}. Either\n` +
              `  --fresh              starts it over (deleting its images and recorded result),\n` +
              `  --name <new name>    runs it beside them, or\n` +
              `  --allow-code-change  resumes anyway when only the code changed (a fix that keeps the saved state valid)`,
          );
          return 1;
        }
        view.line(`job "${job}" failed after ${plural(outcome.attempts, 'attempt')}: ${withRunRemedy(e.code, e.message)}`);
        if (verbose && e.stack) view.line(e.stack);
        return 1;
      }
    }
  } finally {
    // Also when the run throws (a locked store): the error then prints below a cleared bar.
    view.done();
    removeHandlers();
    closeMetrics();
  }
}
