// `cr-scheduler report FILE`: a summary, for people, of a metrics file that `run --metrics-file`
// wrote (metrics-summary.ts decides every figure).
import { Command, Option } from 'commander';
import { printable } from '../escape.js';
import { readMetricsFile } from '../metrics-file.js';
import { summarize, type JobSummary } from '../metrics-summary.js';
import { formatBytes, formatMs, plural, toJson, UsageError } from '../output.js';
import { MIN_YOUNG_INTERVAL_MS } from '../../src/internal.js';

export function reportCommand(): Command {
  return new Command('report')
    .description('sum up a metrics file written by "run --metrics-file": checkpoints, their cost, work lost to failures, and the interval Young\'s formula suggests')
    .argument('<file>', 'the metrics file (JSON lines)')
    .addOption(new Option('--job <name>', 'only this job (a file may hold several)'))
    .addOption(new Option('--json', 'the figures as JSON (times in ms, null where there is nothing to compute from)'))
    .addHelpText(
      'after',
      `
Examples:
  $ cr-scheduler run job.mjs --metrics-file job.metrics.jsonl
  $ cr-scheduler report job.metrics.jsonl

The overhead is the share of the run time the job spent paused in cr.checkpoint(); the work lost
is what failed attempts computed after the image their restart resumed from. Young's interval,
sqrt(2 × checkpoint cost × MTBF), takes the mean pause as the cost and the run time per observed
failure as the MTBF; without a failure in the file there is no MTBF to estimate (run --mtbf takes
the machine's). The file's format: docs/observability.md.`,
    )
    .action((file: string, flags: { job?: string; json?: boolean }) => {
      const { lines, notes } = readMetricsFile(file);
      let jobs = summarize(lines);
      if (flags.job !== undefined) {
        jobs = jobs.filter((j) => j.job === flags.job);
        if (jobs.length === 0) throw new UsageError(`${file} has no lines of job ${JSON.stringify(flags.job)}`);
      }
      for (const note of notes) process.stderr.write(`note: ${printable(note)}\n`);
      if (flags.json) return void process.stdout.write(`${toJson({ file, jobs })}\n`);
      if (jobs.length === 0) return void process.stdout.write(`${file} holds no lines yet\n`);
      process.stdout.write(`${jobs.map(describe).join('\n\n')}\n`);
    });
}

function describe(s: JobSummary): string {
  const seconds = (ms: number): string => String(Math.round(ms / 100) / 10);
  const rows: [string, string][] = [
    ['job', `"${printable(s.job)}"${s.outcome ? `, ${s.outcome}` : ', running or killed when last written'}`],
    ['attempts', `${s.attempts}${s.failures > 0 ? ` (${plural(s.failures, 'restart')} after a failure)` : ''}`],
    ['run time', formatMs(s.runMs)],
    ['checkpoints', s.checkpoints === 0 ? 'none' : `${s.checkpoints}: ${s.full} full, ${s.incremental} incremental, ${formatBytes(s.bytes)} written`],
    ['failed', s.checkpointsFailed === 0 ? 'no checkpoint failed' : `${plural(s.checkpointsFailed, 'checkpoint')} could not be written (the job went on from the image before; the run's warnings say why)`],
    ['total pause', s.meanPauseMs === null ? 'none' : `${formatMs(s.pauseMs)} (mean ${formatMs(s.meanPauseMs)} per checkpoint)`],
    ['overhead', s.overhead === null ? 'unknown: no run time' : `${(s.overhead * 100).toFixed(s.overhead < 0.1 ? 2 : 1)}% of the run time paused for checkpoints`],
  ];
  if (s.meanCommitMs !== null) rows.push(['mean commit', `${formatMs(s.meanCommitMs)} (in the background, after each pause)`]);
  if (s.meanIntervalMs !== null) rows.push(['mean interval', `${formatMs(s.meanIntervalMs)} between checkpoints`]);
  if (s.failures === 0) {
    rows.push(['work lost', 'none: no failure was recorded']);
    rows.push(['MTBF', 'unknown: no failure was recorded, so there is nothing to estimate it from']);
    rows.push(['Young interval', "none: Young's formula needs an MTBF; give the machine's with run --mtbf SECONDS and cr applies it"]);
  } else {
    rows.push(['work lost', `${formatMs(s.lostMs)} to ${plural(s.failures, 'failure')} (plus ${formatMs(s.downMs)} from the failures to the restarts)`]);
    rows.push(['MTBF', `${formatMs(s.mtbfMs!)} observed (run time per failure)`]);
    rows.push([
      'Young interval',
      s.youngIntervalMs === null
        ? 'none: no checkpoint was taken, so its cost is unknown'
        : `${formatMs(s.youngIntervalMs)} ${youngFormula(s.meanPauseMs!, s.mtbfMs!, s.youngIntervalMs)}: run --interval ${seconds(s.youngIntervalMs)}, or --mtbf ${seconds(s.mtbfMs!)} to let cr follow the measured cost`,
    ]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

/** How the interval came from the formula: equal to it, or raised to the minimum --mtbf keeps. */
function youngFormula(costMs: number, mtbfMs: number, intervalMs: number): string {
  const formula = `sqrt(2 × ${formatMs(costMs)} × ${formatMs(mtbfMs)})`;
  const raw = Math.sqrt(2 * Math.max(costMs, 1) * mtbfMs);
  return intervalMs > raw ? `(${formula} is ${formatMs(raw)}; raised to the ${formatMs(MIN_YOUNG_INTERVAL_MS)} minimum that --mtbf keeps)` : `= ${formula}`;
}
