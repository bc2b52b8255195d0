// `cr-scheduler slurm script`: the sbatch scripts it prints (valid bash, the signal ahead of the
// wall time, the requeue on exit 75, run and agent flags checked by those commands), Slurm's
// time formats, and clear refusals. The scripts run under a real Slurm in slurm.test.ts.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { jobScript, slurmTimeSeconds, shellWord } from '../../../scheduler/hpc/slurm-script.js';
import { CLUSTER_JOB } from '../helpers.js';
import { runCli, show, tempDir } from '../../runner/helpers.js';

const exec = promisify(execFile);

async function bashSyntaxError(script: string): Promise<string | null> {
  const child = exec('/bin/bash', ['-n']);
  child.child.stdin!.end(script);
  return child.then(
    () => null,
    (err: Error & { stderr?: string }) => err.stderr ?? err.message,
  );
}

test("Slurm's time formats are read as seconds; anything else is null.", (t) => {
  const cases: [string, number | null][] = [
    ['1', 60],
    ['90', 5400],
    ['10:30', 630],
    ['2:00:00', 7200],
    ['1-0', 86_400],
    ['1-2:30', 95_400],
    ['1-02:30:15', 95_415],
    ['UNLIMITED', Infinity],
    ['infinite', Infinity],
    ['', null],
    ['1h', null],
    ['1:2:3:4', null],
    ['-5', null],
  ];
  for (const [text, seconds] of cases) t.is(slurmTimeSeconds(text), seconds, text);
});

test('Shell words are quoted only when they need it, and a quote inside survives.', (t) => {
  t.is(shellWord('/a/b-c.mjs'), '/a/b-c.mjs');
  t.is(shellWord('{"n": 1}'), `'{"n": 1}'`);
  t.is(shellWord("Ada's"), `'Ada'\\''s'`);
});

test('A job script asks for USR1 ahead of the wall time, runs the job with it as the stop signal, and requeues on exit 75.', async (t) => {
  const run = await runCli(t, ['slurm', 'script', CLUSTER_JOB, '--store', '/shared/cr', '--args', '{"steps": 5}', '--interval', '600', '--time', '2:00:00', '--signal-lead', '300', '--sbatch=--partition=long']);
  t.is(run.code, 0, show(run));
  const script = run.stdout;
  t.is(await bashSyntaxError(script), null);
  t.true(script.startsWith('#!/bin/bash\n'));
  for (const line of ['#SBATCH --job-name=cr-cluster-job', '#SBATCH --time=2:00:00', '#SBATCH --signal=B:USR1@300', '#SBATCH --requeue', '#SBATCH --open-mode=append', '#SBATCH --partition=long', `#SBATCH --chdir=${process.cwd()}`]) {
    t.true(script.split('\n').includes(line), line);
  }
  t.regex(script, new RegExp(` run ${CLUSTER_JOB} --store /shared/cr --args '\\{"steps": 5\\}' --interval 600 --stop-signal SIGUSR1 --checkpoint-signal SIGUSR2 --no-progress &$`, 'm'));
  // The traps come first, before any command: a signal before them would end the job unrequeued.
  const lines = script.split('\n');
  const first = lines.findIndex((l) => !l.startsWith('#'));
  t.deepEqual(lines.slice(first, first + 3), [
    'signalled=0; early=0; pid=',
    `trap 'signalled=1; if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null; else early=1; fi' USR1`,
    `trap 'signalled=1; [ -n "$pid" ] && kill -USR2 "$pid" 2>/dev/null' USR2`,
  ]);
  t.false(/\$\((?!\()/.test(lines.slice(0, lines.findIndex((l) => l.endsWith(' &'))).join('\n')), 'no command substitution before cr starts');
  t.regex(script, /^if \[ "\$status" -eq 75 \]; then\n.*checkpointed and stopped.*\n {2}scontrol requeue "\$SLURM_JOB_ID"$/m);
  t.regex(script, /^elif \[ "\$signalled" -eq 1 \] && \[ "\$status" -gt 128 \]; then\n.*before cr was listening.*\n {2}scontrol requeue "\$SLURM_JOB_ID"$/m);
  t.regex(script, /SLURM_RESTART_COUNT/);
  // #SBATCH lines are read only before the first command.
  const firstCommand = script.split('\n').findIndex((l) => l !== '' && !l.startsWith('#'));
  t.false(script.split('\n').slice(firstCommand).some((l) => l.startsWith('#SBATCH')));
  t.regex(run.stderr, /^note: the job's images go to \/shared\/cr: it must be on storage every compute node mounts/m);

  const once = await runCli(t, ['slurm', 'script', CLUSTER_JOB, '--store', '/tmp/x', '--no-requeue']);
  t.is(once.code, 0, show(once));
  t.false(once.stdout.includes('scontrol requeue'));
  t.false(once.stdout.includes('#SBATCH --requeue'));
  t.regex(once.stderr, /^warning: the store \/tmp\/x is node-local/m);
  t.false(/Slurm may send the signal/.test(run.stderr + once.stderr), 'no warning about the signal with the default lead and a long wall time');

  // Slurm may signal up to 60 s early: a wall time within that of the lead can bring the signal as the job starts.
  const short = await runCli(t, ['slurm', 'script', CLUSTER_JOB, '--store', '/shared/cr', '--time', '1', '--signal-lead', '50']);
  t.is(short.code, 0, show(short));
  t.regex(short.stderr, /^warning: Slurm may send the signal up to 60 s before --signal-lead asks: with --time 1 \(60 s\) and --signal-lead 50 s it can come 0 s into an allocation, .* Give --time at least 120 s, or a shorter --signal-lead$/m);
  const enough = await runCli(t, ['slurm', 'script', CLUSTER_JOB, '--store', '/shared/cr', '--time', '2', '--signal-lead', '50']);
  t.false(enough.stderr.includes('Slurm may send the signal'), enough.stderr);
});

test('A pilot script runs an agent named after the Slurm job, with the allocation\'s CPUs, and drains it on USR1.', async (t) => {
  const run = await runCli(t, ['slurm', 'script', '--agent', '--scheduler', 'head:7070', '--token-file', '/home/a/agent.token', '--time', '4:00:00', '--sbatch=--array=1-8']);
  t.is(run.code, 0, show(run));
  const script = run.stdout;
  t.is(await bashSyntaxError(script), null);
  t.true(script.split('\n').includes('#SBATCH --array=1-8'));
  t.true(script.split('\n').includes('#SBATCH --signal=B:USR1@180'));
  t.false(script.includes('#SBATCH --requeue'), 'a pilot is not requeued unless asked');
  t.regex(script, / agent --name "\$\{host\}-slurm\$\{SLURM_JOB_ID\}" --slots "\$\{SLURM_CPUS_ON_NODE:-1\}" --work "\$work" --drain-timeout 180 --scheduler head:7070 --token-file \/home\/a\/agent.token &$/m);
  // Its scratch directory is its own: a pilot of another cluster with the same job id neither shares nor deletes it.
  t.regex(script, /^work="\$\(mktemp -d "\$\{TMPDIR:-\/tmp\}\/cr-agent-\$\{SLURM_JOB_ID\}\.XXXXXX"\)" \|\| exit 1$/m);
  t.regex(script, /^trap 'signalled=1; if \[ -n "\$pid" \]; then kill -TERM "\$pid" 2>\/dev\/null; else early=1; fi' USR1$/m);
  const requeued = await runCli(t, ['slurm', 'script', '--agent', '--scheduler', 'head:7070', '--requeue', '--slots', '4', '--drain-timeout', '100']);
  t.is(requeued.code, 0, show(requeued));
  t.regex(requeued.stdout, /scontrol requeue/);
  t.regex(requeued.stdout, / agent --name "[^"]+" --work "\$work" --scheduler head:7070 --slots 4 --drain-timeout 100 &$/m);
});

test('Flags that would harm a requeued job, bad run or agent flags and impossible times are refused with exit 2 and why.', async (t) => {
  const refusals: [string[], RegExp][] = [
    [[CLUSTER_JOB, '--fresh'], /--fresh cannot go into a Slurm script: it would delete the images at every requeue/],
    [[CLUSTER_JOB, '--from', 'x.crimg'], /--from cannot go into a Slurm script/],
    [[CLUSTER_JOB, '--stop-signal', 'USR2'], /--stop-signal cannot go into a Slurm script: the script sets it/],
    [[CLUSTER_JOB, '--checkpoint-signal=HUP'], /--checkpoint-signal cannot go into a Slurm script: the script sets it/],
    [[CLUSTER_JOB, '--interval', 'soon'], /run flags: .*--interval must be a positive number, got "soon"/],
    [[CLUSTER_JOB, '--no-such-flag'], /run flags: unknown option '--no-such-flag'/],
    [[CLUSTER_JOB, '--time', '1h'], /--time "1h" is not a Slurm time/],
    [[CLUSTER_JOB, '--time', '2', '--signal-lead', '120'], /--signal-lead 120 s must be shorter than --time 2 \(120 s\)/],
    [[CLUSTER_JOB, '--signal-lead', '70000'], /--signal-lead must be at most 65535 seconds/],
    [[CLUSTER_JOB, '--signal-lead', 'soon'], /option '--signal-lead <seconds>' argument 'soon' is invalid\. --signal-lead must be a whole number ≥ 1, got "soon"/],
    [[], /name the job module first/],
    [['no-such-job.mjs'], /no job file at no-such-job\.mjs/],
    [['--agent'], /--agent needs --scheduler HOST:PORT/],
    [['--agent', '--scheduler', 'h:1', '--name', 'x'], /--name cannot go into a Slurm script: each pilot names itself/],
    [['--agent', '--scheduler', 'h:1', '--token', 'crt_x'], /--token cannot go into a Slurm script: the token would be written into the script/],
    [['--agent', '--scheduler', 'h:1', '--slots', 'many'], /agent flags: .*--slots must be a whole number/],
  ];
  for (const [args, message] of refusals) {
    const run = await runCli(t, ['slurm', 'script', ...args]);
    t.is(run.code, 2, `${args.join(' ')}\n${show(run)}`);
    t.regex(run.stderr, message, args.join(' '));
    t.is(run.stdout, '', 'no script for a refused command');
  }
});

test('"cr-scheduler slurm script --help" exits 0 and shows usage, the defaults and examples.', async (t) => {
  const run = await runCli(t, ['slurm', 'script', '--help']);
  t.is(run.code, 0, show(run));
  t.regex(run.stdout, /^Usage: cr-scheduler slurm script \[options\] \[job\] \[flags\.\.\.\]/);
  t.regex(run.stdout, /--signal-lead <seconds>[\s\S]*\(default: 180\)/);
  t.regex(run.stdout, /\$ sbatch sim\.sbatch/);
  t.is(run.stderr, '');
});

test('A USR1 that reaches a job script as cr starts is passed on to cr, and the job requeues (Slurm has sent one within a second of a requeued job\'s start).', async (t) => {
  const dir = tempDir(t, 'early-usr1');
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  const tool = (name: string, body: string): void => fs.writeFileSync(path.join(bin, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
  // cr, started, signals the script's shell at once: the USR1 arrives as the shell starts cr,
  // before or after it knows cr's pid. Either way it must reach cr, here a sleep that it ends.
  tool('scontrol', `echo "$*" >> ${shellWord(path.join(dir, 'scontrol.log'))}`);
  tool('fake-cr', 'kill -USR1 "$CR_TEST_SHELL"; exec sleep 60');
  const script = path.join(dir, 'job.sh');
  fs.writeFileSync(script, jobScript({ command: path.join(bin, 'fake-cr'), job: 'job.mjs', runArgs: '', jobName: 'j', time: '1', leadS: 50, requeue: true, cwd: dir, sbatch: [] }));
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, SLURM_JOB_ID: '7', SLURM_RESTART_COUNT: '0' };
  const child = spawn('/bin/bash', ['-c', 'export CR_TEST_SHELL=$$; exec /bin/bash "$0"', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  t.is(signal, null, `the script itself must not die of the signal\n${out}`);
  // Passed on as TERM: a USR1 that reached Node before cr listened would open its inspector.
  t.is(code, 128 + os.constants.signals.SIGTERM, out);
  t.regex(out, new RegExp(`^\\[cr\\] slurm job 7 attempt 1 \\(SLURM_RESTART_COUNT=0\\) on ${os.hostname().split('.')[0]} at \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`, 'm'));
  t.regex(out, /^\[cr\] the signal came before cr was listening for it: requeueing slurm job 7/m);
  t.is(fs.readFileSync(path.join(dir, 'scontrol.log'), 'utf8'), 'requeue 7\n');
});
