// What a person sees: `cr-scheduler run` under a real pseudo-terminal (tmux), read back from the
// screen — log lines, the stop notice, the resume command and the result each on lines of their
// own, no bar left behind, and the printed resume command runs — and in a pipe, a batch log.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { defaultNodeName } from '../../scheduler/commands/serve.js';
import { EXIT_STOPPED, EXIT_STOPPED_AT_ONCE } from '../../scheduler/signals.js';
import { CLI, FIXTURES, runCli, show, tempDir } from '../runner/helpers.js';
import { CLUSTER_JOB, startScheduler } from '../scheduler/helpers.js';

const TICKER = path.join(FIXTURES, 'ticker-job.mjs');
const HANG_GUARD_MS = 90_000;
const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const tmuxTest = hasTmux ? test : test.skip;
if (!hasTmux) test('tmux is not installed: the terminal tests are skipped (.ci/run installs it).', (t) => t.log('no tmux'));

let sessions = 0;

/** A command running in a tmux pane of its own, 120×40, under its own tmux server. */
class Pane {
  readonly #socket: string;

  constructor(t: ExecutionContext, cwd: string, command: string) {
    // A socket of its own in a directory the test removes: no server or socket is left behind.
    this.#socket = path.join(tempDir(t, 'tmux'), `s${++sessions}`);
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CR_') && !k.startsWith('npm_') && k !== 'TMUX') env[k] = v;
    env.CR_NATIVE = process.env.CR_NATIVE;
    // The pane stays after the command ends, so that its last screen can be read.
    const shell = `${command}; echo "EXIT=$?"; sleep 600`;
    const started = spawnSync('tmux', ['-S', this.#socket, 'new-session', '-d', '-x', '120', '-y', '40', '-c', cwd, shell], { env, encoding: 'utf8' });
    if (started.status !== 0) throw new Error(`tmux new-session failed: ${started.stderr}`);
    t.teardown(() => void spawnSync('tmux', ['-S', this.#socket, 'kill-server']));
  }

  /** The screen and its scrollback, wrapped lines joined, trailing blank lines dropped. */
  screen(): string {
    const r = spawnSync('tmux', ['-S', this.#socket, 'capture-pane', '-p', '-J', '-S', '-'], { encoding: 'utf8' });
    return r.stdout.replace(/\s+$/, '');
  }

  keys(...keys: string[]): void {
    spawnSync('tmux', ['-S', this.#socket, 'send-keys', ...keys]);
  }

  /** Waits until the screen matches (checked every 100 ms; the bound only guards against a hang). */
  async waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
    const started = Date.now();
    for (;;) {
      const screen = this.screen();
      const match = pattern.exec(screen);
      if (match) return match;
      if (Date.now() - started > HANG_GUARD_MS) throw new Error(`the screen never matched ${pattern}:\n${screen}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

const cli = (args: string): string => `${shq(process.execPath)} ${shq(CLI)} ${args}`;
const shq = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
const lines = (screen: string): string[] => screen.split('\n');
const BAR = /[█░]/;

tmuxTest('On a terminal, Ctrl-C leaves the notice and a runnable resume command on lines of their own, and the rerun shows where it resumed.', async (t) => {
  const dir = tempDir(t, 'tty');
  const first = new Pane(t, dir, cli(`run ${shq(TICKER)} --interval 1 --args '{"logEvery": 20}'`));
  await first.waitFor(/^ticker: step 40$/m);
  await first.waitFor(/ticker-job \[[█░]+\] \d+% \| step \d+/);
  first.keys('C-c');
  const screen = (await first.waitFor(/^EXIT=\d+$/m)).input!;
  const shown = lines(screen);
  t.true(shown.includes('ticker: step 20'), screen);
  t.true(shown.includes('ticker: step 40'), screen);
  t.true(shown.includes('SIGINT: checkpointing "ticker-job" at its next safe point, then stopping (Ctrl-C again stops at once)'), screen);
  const stopped = shown.findIndex((l) => /^job "ticker-job" stopped after checkpoint ticker-job-\d{8}\. Resume it with:$/.test(l));
  t.true(stopped >= 0, screen);
  const resume = shown[stopped + 1]!;
  t.is(resume, `  node ${CLI} run ${TICKER} --args '{"logEvery": 20}' --interval 1`, screen);
  t.is(shown[stopped + 2], `EXIT=${EXIT_STOPPED}`, screen);
  t.false(BAR.test(screen), `a bar was left on the screen:\n${screen}`);

  // The printed command, pasted as it is, resumes the job.
  const second = new Pane(t, dir, resume.trim());
  const resumed = await second.waitFor(/^resuming "ticker-job" from image (ticker-job-\d{8}) \(taken .+\)$/m);
  t.is(resumed[1], /checkpoint (ticker-job-\d{8})\./.exec(shown[stopped]!)![1]);
  await second.waitFor(/^ticker: resumed at step \d+$/m);
  second.keys('C-c');
  const again = (await second.waitFor(/^EXIT=\d+$/m)).input!;
  t.regex(again, /^resuming "ticker-job" from image/m);
  t.regex(again, /^job "ticker-job" stopped after checkpoint ticker-job-\d{8}\. Resume it with:$/m);
  t.false(BAR.test(again), again);
});

tmuxTest("On a terminal, the job's console output goes above the bar, and the result is printed on its own lines after the bar is cleared.", async (t) => {
  const dir = tempDir(t, 'tty-result');
  const pane = new Pane(t, dir, cli(`run ${shq(TICKER)} --args '{"steps": 150, "logEvery": 50, "printEvery": 75}'`));
  const screen = (await pane.waitFor(/^EXIT=\d+$/m)).input!;
  const shown = lines(screen);
  // Each line whole; the job's console output and its cr.log lines come by different ways, so
  // their order against each other is not fixed.
  t.deepEqual(shown.slice(0, 5).sort(), ['ticker printed: step 150', 'ticker printed: step 75', 'ticker: step 100', 'ticker: step 150', 'ticker: step 50'], screen);
  t.deepEqual(shown.slice(5), ['{', '  "steps": 150', '}', 'EXIT=0'], screen);
});

tmuxTest('On a terminal, submit --watch prints the log above its bar and the result on its own lines.', async (t) => {
  const scheduler = await startScheduler(t, { localAgent: true });
  const pane = new Pane(t, tempDir(t, 'tty-watch'), cli(`submit ${shq(CLUSTER_JOB)} --args '{"steps": 40, "stepMs": 20}' --watch ${scheduler.args.map(shq).join(' ')}`));
  const screen = (await pane.waitFor(/^EXIT=\d+$/m)).input!;
  const shown = lines(screen);
  t.is(shown[0], 'submitted job 1 "cluster-job"', screen);
  t.true(shown.includes('[scheduler] succeeded on node ' + defaultNodeName()), screen);
  const result = shown.indexOf('{');
  t.true(result > 0, screen);
  t.is((JSON.parse(shown.slice(result, -1).join('\n')) as { steps: number }).steps, 40, screen);
  t.is(shown.at(-1), 'EXIT=0');
  t.false(BAR.test(screen), screen);
});

tmuxTest('On a terminal, a second Ctrl-C says the job stopped without a checkpoint and how to resume it.', async (t) => {
  const dir = tempDir(t, 'tty-kill');
  const pane = new Pane(t, dir, cli(`run ${shq(TICKER)} --name slow --args '{"stepMs": 600000}'`));
  await pane.waitFor(/^slow \[/m);
  pane.keys('C-c');
  await pane.waitFor(/^SIGINT: checkpointing "slow"/m);
  pane.keys('C-c');
  const screen = (await pane.waitFor(/^EXIT=\d+$/m)).input!;
  t.deepEqual(lines(screen), [
    'SIGINT: checkpointing "slow" at its next safe point, then stopping (Ctrl-C again stops at once)',
    'SIGINT again: stopping "slow" at once, without a checkpoint',
    'job "slow" stopped without a checkpoint. It resumes from the beginning (it has no image yet) with:',
    `  node ${CLI} run ${TICKER} --args '{"stepMs": 600000}' --name slow`,
    `EXIT=${EXIT_STOPPED_AT_ONCE}`,
  ]);
});

const STAMP = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ';

test('In a pipe, each checkpoint is one timestamped line, with no terminal codes; --quiet prints none.', async (t) => {
  const args = ['run', TICKER, '--args', '{"steps": 30, "stepMs": 1, "logEvery": 1000}', '--every', '10', '--interval', '3600'];
  const run = await runCli(t, [...args, '--store', tempDir(t, 'pipe')]);
  t.is(run.code, 0, show(run));
  t.is(run.stdout, '{\n  "steps": 30\n}\n');
  const checkpoint = new RegExp(`^${STAMP} checkpoint ticker-job-0000000[123]: \\d+ B → \\d+ B \\(\\d+\\.\\d\\d×.*\\); the job paused [\\d.]+ (µs|ms|s), durable after [\\d.]+ (µs|ms|s)$`);
  const got = run.stderr.split('\n').filter((l) => l !== '');
  t.is(got.length, 3, run.stderr);
  for (const line of got) t.regex(line, checkpoint);
  t.false(run.stderr.includes('\u001b'), JSON.stringify(run.stderr));

  const quiet = await runCli(t, [...args, '--store', tempDir(t, 'pipe-quiet'), '--quiet']);
  t.is(quiet.code, 0, show(quiet));
  t.is(quiet.stderr, '');
  t.is(quiet.stdout, '{\n  "steps": 30\n}\n');
});
