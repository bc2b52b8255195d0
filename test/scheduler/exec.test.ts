// The scheduler's exec addon (scheduler/exec.ts, native/exec/): execv from Node.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

test('exec replaces the process with another program: the same pid, the environment, stdout and stderr kept; a program that cannot run throws.', (t) => {
  const script = [
    `const { loadExec } = await import(${JSON.stringify(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'scheduler', 'exec.js'))});`,
    'console.log(`before ${process.pid}`);',
    'try { loadExec()("/nonexistent/program", ["x"]); } catch (err) { console.log(`refused: ${err.message}`); }',
    'loadExec()(process.execPath, [process.execPath, "-e", "console.log(`after ${process.pid} ${process.env.CR_EXEC_PROBE}`); console.error(`on stderr`)"]);',
    'console.log("not reached");',
  ].join('\n');
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, CR_EXEC_PROBE: 'kept' } });
  t.is(run.status, 0, run.stderr);
  const lines = run.stdout.trim().split('\n');
  const pid = /^before (\d+)$/.exec(lines[0]!)![1];
  t.regex(lines[1]!, /^refused: exec \/nonexistent\/program: No such file or directory$/);
  t.is(lines[2], `after ${pid} kept`, 'the same process, its environment and its stdout');
  t.is(lines.length, 3);
  t.is(run.stderr.trim(), 'on stderr');
});
