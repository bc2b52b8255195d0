// SIGTERM and SIGINT (and the --stop-signal) ask `cr-scheduler run` to checkpoint at the job's
// next safe point and stop: exit 75 ("stopped, resumable"), a line saying how to resume, and a
// next run that resumes from that very image. The --checkpoint-signal checkpoints and goes on.
import path from 'node:path';
import test from 'ava';
import { EXIT_STOPPED } from '../../scheduler/signals.js';
import { CLI, EXAMPLES, imageId, newestSequence, resultOf, runCli, show, startCli, tempDir, uninterruptedResult } from './helpers.js';

const HEAT = path.join(EXAMPLES, 'heat2d.mjs');
// About 2 s of work; the signal comes with the first image, long before the end.
const HEAT_ARGS = { n: 128, steps: 8000 };

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} checkpoints the job and exits 75 saying how to resume, and the next run resumes there and finishes.`, async (t) => {
    const store = tempDir(t, `stop-${signal}`);
    const command = ['run', HEAT, '--store', store, '--args', JSON.stringify(HEAT_ARGS), '--every', '1000', '--interval', '3600'];
    const run = startCli(t, command);
    await run.waitUntil(() => newestSequence(store, 'heat2d') > 0, 'the first image');
    run.child.kill(signal);
    const stopped = await run.exit;
    t.is(stopped.code, EXIT_STOPPED, run.describe());
    t.is(stopped.stdout, '', 'a stopped job prints no result');
    const key = signal === 'SIGINT' ? 'Ctrl-C' : 'SIGTERM';
    t.regex(stopped.stderr, new RegExp(`^${signal}: checkpointing "heat2d" at its next safe point, then stopping \\(${key} again stops at once\\)$`, 'm'));
    const said = /^job "heat2d" stopped after checkpoint (\S+)\. Resume it with:\n {2}node (\S+) run (\S+) --args '(.+)' --store (\S+) --interval 3600 --every 1000$/m.exec(stopped.stderr);
    t.truthy(said, stopped.stderr);
    // The stop's image is the newest, and the hint names cr as it was started, this job file,
    // its arguments, this store and the checkpoint options.
    const stopImage = newestSequence(store, 'heat2d');
    t.is(said![1], imageId('heat2d', stopImage));
    t.is(path.resolve(said![2]!), CLI);
    t.is(said![3], HEAT);
    t.is(said![4], JSON.stringify(HEAT_ARGS));
    t.is(said![5], store);

    const resumed = await runCli(t, command);
    t.is(resumed.code, 0, show(resumed));
    t.regex(resumed.stderr, new RegExp(`resuming "heat2d" from image ${imageId('heat2d', stopImage)} `));
    const at = Number(/heat2d: resumed at step (\d+)\/8000/.exec(resumed.stderr)?.[1]);
    t.true(at > 0 && at < HEAT_ARGS.steps, `resumed at step ${at}`);
    t.deepEqual(resultOf(t, resumed), await uninterruptedResult(HEAT, HEAT_ARGS));
  });
}

// The hint is what a user copies: run as printed (through a shell's word splitting), it must
// resume this job with its arguments, even ones that need quoting.
test('The resume command printed on a stop resumes the job when run as printed.', async (t) => {
  const store = tempDir(t, 'stop-hint');
  const args = { ...HEAT_ARGS, note: "Ada's run" };
  const run = startCli(t, ['run', HEAT, '--store', store, '--args', JSON.stringify(args), '--every', '1000', '--interval', '3600']);
  await run.waitUntil(() => newestSequence(store, 'heat2d') > 0, 'the first image');
  run.child.kill('SIGTERM');
  const stopped = await run.exit;
  t.is(stopped.code, EXIT_STOPPED, run.describe());
  const hint = /Resume it with:\n {2}node (\S+) (.+)$/m.exec(stopped.stderr);
  if (!hint) return t.fail(stopped.stderr);
  t.is(path.resolve(hint[1]!), CLI);
  t.deepEqual(shellWords(hint[2]!), ['run', HEAT, '--args', JSON.stringify(args), '--store', store, '--interval', '3600', '--every', '1000']);
  const resumed = await runCli(t, shellWords(hint[2]!));
  t.is(resumed.code, 0, show(resumed));
  t.regex(resumed.stderr, /resuming "heat2d" from image /);
  t.deepEqual(resultOf(t, resumed), await uninterruptedResult(HEAT, HEAT_ARGS));
});

test('--stop-signal SIGUSR1 makes USR1 checkpoint and stop with exit 75, as sbatch --signal=B:USR1 sends it, and the next run resumes there.', async (t) => {
  const store = tempDir(t, 'stop-usr1');
  const command = ['run', HEAT, '--store', store, '--args', JSON.stringify(HEAT_ARGS), '--every', '1000', '--interval', '3600', '--stop-signal', 'USR1'];
  const run = startCli(t, command);
  await run.waitUntil(() => newestSequence(store, 'heat2d') > 0, 'the first image');
  run.child.kill('SIGUSR1');
  const stopped = await run.exit;
  t.is(stopped.code, 75, run.describe());
  t.is(stopped.code, EXIT_STOPPED);
  t.regex(stopped.stderr, /^SIGUSR1: checkpointing "heat2d" at its next safe point, then stopping \(SIGUSR1 again stops at once\)$/m);
  const stopImage = newestSequence(store, 'heat2d');
  t.regex(stopped.stderr, new RegExp(`job "heat2d" stopped after checkpoint ${imageId('heat2d', stopImage)}\\.`));
  const resumed = await runCli(t, command);
  t.is(resumed.code, 0, show(resumed));
  t.regex(resumed.stderr, new RegExp(`resuming "heat2d" from image ${imageId('heat2d', stopImage)} `));
  t.deepEqual(resultOf(t, resumed), await uninterruptedResult(HEAT, HEAT_ARGS));
});

test('--checkpoint-signal SIGUSR2 makes USR2 take a checkpoint while the job goes on to finish with exit 0.', async (t) => {
  const store = tempDir(t, 'checkpoint-usr2');
  // No interval or count falls due: the only image is the one the signal asks for.
  const run = startCli(t, ['--verbose', 'run', HEAT, '--store', store, '--args', JSON.stringify(HEAT_ARGS), '--interval', '3600', '--checkpoint-signal', 'SIGUSR2']);
  // The handlers are in place before the job starts; "codec:" is printed when it has started.
  await run.waitForStderr(/^codec: /m);
  t.is(newestSequence(store, 'heat2d'), 0);
  run.child.kill('SIGUSR2');
  await run.waitUntil(() => newestSequence(store, 'heat2d') > 0, 'the image the signal asked for');
  const done = await run.exit;
  t.is(done.code, 0, run.describe());
  t.regex(done.stderr, /^SIGUSR2: checkpointing "heat2d" at its next safe point and going on$/m);
  t.regex(done.stderr, /^checkpoint heat2d-00000001: /m);
  t.deepEqual(resultOf(t, done), await uninterruptedResult(HEAT, HEAT_ARGS));
});

test('--stop-signal and --checkpoint-signal refuse signals they cannot use, with exit 2 and the choices.', async (t) => {
  const store = tempDir(t, 'signal-usage');
  const kill = await runCli(t, ['run', HEAT, '--store', store, '--stop-signal', 'KILL']);
  t.is(kill.code, 2, show(kill));
  t.regex(kill.stderr, /--stop-signal must be one of SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGHUP \(with or without "SIG"\), got "KILL"/);
  const same = await runCli(t, ['run', HEAT, '--store', store, '--checkpoint-signal', 'TERM']);
  t.is(same.code, 2, show(same));
  t.regex(same.stderr, /--checkpoint-signal SIGTERM already means "checkpoint and stop" \(SIGTERM, SIGINT\): pick another/);
  t.is(newestSequence(store, 'heat2d'), 0, 'nothing ran');
});

/** Splits a command line into words as a POSIX shell does, for bare words, '...' and \x. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === ' ') {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unbalanced quote in ${line}`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\') {
      word = (word ?? '') + (line[++i] ?? '');
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== null) words.push(word);
  return words;
}
