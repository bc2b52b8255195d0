// `run --metrics-file` and `report`: real runs of real jobs, one SIGKILLed and resumed by the
// same command, one failing inside its run; the lines are checked against what happened, and
// the report's figures against the lines.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { MetricsFileError, readMetricsFile, type CheckpointLine, type EndLine, type MetricsLine, type RestartLine, type StartLine } from '../../scheduler/metrics-file.js';
import type { JobSummary } from '../../scheduler/metrics-summary.js';
import { youngIntervalMs } from '../../src/internal.js';
import { FIXTURES, HANG_GUARD_MS, resultOf, runCli, startCli, tempDir } from '../runner/helpers.js';

const TICKER = path.join(FIXTURES, 'ticker-job.mjs');
const COUNTER = path.join(FIXTURES, 'counter-job.mjs');

function linesOf(file: string): MetricsLine[] {
  return fs.existsSync(file) ? readMetricsFile(file).lines : [];
}

const ms = (iso: string): number => Date.parse(iso);

test('a run killed with SIGKILL and resumed by the same command writes start, checkpoint, restart and end lines, and report sums them up', async (t) => {
  const dir = tempDir(t, 'metrics-file');
  const file = path.join(dir, 'run.jsonl');
  const args = ['run', TICKER, '--args', JSON.stringify({ steps: 600, stepMs: 10, logEvery: 1e9 }), '--interval', '0.2', '--store', path.join(dir, 'store'), '--metrics-file', file, '--no-progress'];
  const first = startCli(t, args);
  await first.waitUntil(() => linesOf(file).filter((l) => l.event === 'checkpoint').length >= 2, 'two checkpoint lines', HANG_GUARD_MS, 20);
  const killedAt = Date.now();
  first.child.kill('SIGKILL');
  await first.exit;
  const before = linesOf(file);
  const second = await runCli(t, args);
  t.is(second.code, 0, second.stderr);
  t.deepEqual(resultOf(t, second), { steps: 600 });

  const lines = linesOf(file);
  t.deepEqual(lines.slice(0, before.length), before, 'lines are only appended');
  const start = lines[0] as StartLine;
  t.like(start, { v: 1, event: 'start', job: 'ticker-job', attempt: 1, restored: null });
  const restartIndex = lines.findIndex((l) => l.event === 'restart');
  t.is(restartIndex, before.length, 'the rerun begins with a restart line');
  const restart = lines[restartIndex] as RestartLine;
  const end = lines.at(-1) as EndLine;
  t.like(end, { event: 'end', outcome: 'succeeded', error: null });
  t.is(lines.filter((l) => l.event === 'restart').length, 1);
  t.is(lines.filter((l) => l.event === 'start' || l.event === 'resume').length, 1);

  // Checkpoints: sequences increase by one, every figure is there, the safe point comes before it is durable.
  const checkpoints = lines.filter((l): l is CheckpointLine => l.event === 'checkpoint');
  checkpoints.forEach((c, i) => {
    if (i > 0) t.is(c.sequence, checkpoints[i - 1]!.sequence + 1);
    t.true(c.bytes > 0 && c.raw_bytes > 0 && c.pause_ms >= 0 && c.commit_ms >= 0);
    t.true(ms(c.safe_point_at) <= ms(c.at));
    t.true(c.kind === 'full' || c.kind === 'incremental');
  });

  // The restart resumed from the newest image the killed run committed, after its last sign of life.
  const killedRun = checkpoints.filter((c) => lines.indexOf(c) < restartIndex);
  t.true(restart.restored !== null && restart.restored >= killedRun.at(-1)!.sequence, JSON.stringify(restart));
  t.true(ms(restart.failed_at) >= ms(before.at(-1)!.at), 'failed no earlier than its last line');
  t.true(ms(restart.failed_at) <= killedAt, 'failed no later than the kill');
  t.true(/killed, or its machine failed/.test(restart.failure), restart.failure);
  const restored = checkpoints.find((c) => c.sequence === restart.restored);
  if (restored !== undefined) {
    t.is(restart.lost_ms, Math.round((ms(restart.failed_at) - (ms(restored.safe_point_at) + restored.pause_ms)) * 1000) / 1000, 'lost: from the restored image to the failure');
  }
  t.is(restart.down_ms, ms(restart.at) - ms(restart.failed_at));

  // The report's figures, from the lines.
  const json = await runCli(t, ['report', file, '--json']);
  t.is(json.code, 0, json.stderr);
  const [summary] = (JSON.parse(json.stdout) as { jobs: JobSummary[] }).jobs;
  const pause = checkpoints.reduce((sum, c) => sum + c.pause_ms, 0);
  const run = ms(restart.failed_at) - ms(start.at) + (ms(end.at) - ms(restart.at));
  t.like(summary, { job: 'ticker-job', attempts: 2, checkpoints: checkpoints.length, failures: 1, lostMs: restart.lost_ms, downMs: restart.down_ms, runMs: run, mtbfMs: run, outcome: 'succeeded' });
  t.is(summary!.full + summary!.incremental, checkpoints.length);
  t.is(summary!.bytes, checkpoints.reduce((sum, c) => sum + c.bytes, 0));
  t.true(Math.abs(summary!.pauseMs - pause) < 1e-6);
  t.true(Math.abs(summary!.overhead! - pause / run) < 1e-9);
  t.true(Math.abs(summary!.youngIntervalMs! - youngIntervalMs(pause / checkpoints.length, run)) < 1e-6);

  const text = await runCli(t, ['report', file]);
  t.is(text.code, 0, text.stderr);
  const rows = text.stdout.trimEnd().split('\n');
  const column = rows[0]!.indexOf('"ticker-job"');
  for (const row of rows) t.is(row.slice(column - 2, column), '  ', `aligned: ${row}`);
  t.regex(text.stdout, new RegExp(`^checkpoints +${checkpoints.length}: ${summary!.full} full, ${summary!.incremental} incremental`, 'm'));
  t.regex(text.stdout, /^work lost +.* to 1 failure/m);
  // The formula's value, or the minimum --mtbf keeps when the formula gives less.
  t.regex(text.stdout, /^Young interval +[\d.]+ \S+ (= sqrt\(2 × .+ × .+\)|\(sqrt\(2 × .+ × .+\) is .+; raised to the .+ minimum that --mtbf keeps\)): run --interval [\d.]+/m);
});

test('a failure inside the run is a restart line with the error, the image it restored, and the work lost since that image', async (t) => {
  const dir = tempDir(t, 'metrics-file');
  const file = path.join(dir, 'run.jsonl');
  const run = await runCli(t, ['run', COUNTER, '--args', JSON.stringify({ steps: 300, throwAt: 250 }), '--every', '100', '--retry-delay', '0', '--store', path.join(dir, 'store'), '--metrics-file', file, '--no-progress']);
  t.is(run.code, 0, run.stderr);
  const lines = linesOf(file);
  t.deepEqual(lines.map((l) => l.event), ['start', 'checkpoint', 'checkpoint', 'restart', 'checkpoint', 'end']);
  const restart = lines[3] as RestartLine;
  const image = lines[2] as CheckpointLine;
  t.like(restart, { attempt: 2, restored: image.sequence, failure: 'counter: planned failure at step 250 (attempt 1)' });
  t.is(restart.lost_ms, Math.round((ms(restart.failed_at) - (ms(image.safe_point_at) + image.pause_ms)) * 1000) / 1000);
  t.true(restart.lost_ms >= 0);
  t.like(lines[5] as EndLine, { outcome: 'succeeded', attempt: 2 });
});

test('report says when no failure was recorded that there is no MTBF to estimate, and no Young interval', async (t) => {
  const dir = tempDir(t, 'metrics-file');
  const file = path.join(dir, 'run.jsonl');
  const run = await runCli(t, ['run', COUNTER, '--args', JSON.stringify({ steps: 300 }), '--every', '100', '--store', path.join(dir, 'store'), '--metrics-file', file, '--no-progress']);
  t.is(run.code, 0, run.stderr);
  const text = await runCli(t, ['report', file]);
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /^MTBF +unknown: no failure was recorded, so there is nothing to estimate it from$/m);
  t.regex(text.stdout, /^Young interval +none: Young's formula needs an MTBF/m);
  const json = JSON.parse((await runCli(t, ['report', file, '--json'])).stdout) as { jobs: JobSummary[] };
  t.like(json.jobs[0], { failures: 0, mtbfMs: null, youngIntervalMs: null, checkpoints: 3 });
});

test('report refuses a file that is not a metrics file (a checkpoint-failed line of an unknown stage too), naming the line, and passes over a torn last line with a note', async (t) => {
  const dir = tempDir(t, 'metrics-file');
  const bad = path.join(dir, 'bad.jsonl');
  fs.writeFileSync(bad, '{"v":1,"event":"start","at":"2026-01-01T00:00:00.000Z","job":"j","attempt":1,"restored":null}\n{"v":1,"event":"checkpoint","job":"j"}\n');
  const refused = await runCli(t, ['report', bad]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /bad\.jsonl:2 is not a line of a cr metrics file: "at" is undefined, not an ISO-8601 time/);
  t.notRegex(refused.stderr, /^\s+at /m);
  const err = t.throws(() => readMetricsFile(bad), { instanceOf: MetricsFileError });
  t.is(err?.code, 'CR_METRICS_FILE');

  const torn = path.join(dir, 'torn.jsonl');
  fs.writeFileSync(torn, '{"v":1,"event":"start","at":"2026-01-01T00:00:00.000Z","job":"j","attempt":1,"restored":null}\n{"v":1,"event":"end","at":"2026-01-01T00:00:10.000Z","job":"j","attempt":1,"outcome":"succeeded","error":null}\n{"v":1,"ev');
  const read = await runCli(t, ['report', torn, '--json']);
  t.is(read.code, 0, read.stderr);
  t.regex(read.stderr, /note: .*torn\.jsonl:3: a line cut short/);
  t.like((JSON.parse(read.stdout) as { jobs: JobSummary[] }).jobs[0], { runMs: 10_000, attempts: 1, outcome: 'succeeded' });

  // A checkpoint-failed line names its stage: another is not ours.
  const stage = path.join(dir, 'stage.jsonl');
  fs.writeFileSync(stage, '{"v":1,"event":"checkpoint-failed","at":"2026-01-01T00:00:00.000Z","job":"j","attempt":1,"stage":"capture","code":"CR_CHECKPOINT_FAILED","errno":null,"message":"m"}\n');
  t.throws(() => readMetricsFile(stage), { instanceOf: MetricsFileError, message: /stage\.jsonl:1 is not a line of a cr metrics file: "stage" is "capture", not write/ });

  const missing = await runCli(t, ['report', path.join(dir, 'none.jsonl')]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /no metrics file at .*none\.jsonl/);
  const help = await runCli(t, ['report', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /Usage: cr-scheduler report \[options\] <file>/);
});
