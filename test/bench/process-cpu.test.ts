// The bench's CPU readings from /proc: a child's exact total once it has ended and been waited
// for, and its threads by name while it runs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import test, { type Implementation } from 'ava';
import { endedChildrenCpu, processCpuMs, threadsCpu } from '../../bench/process-cpu.js';

const linux = fs.existsSync('/proc/self/task');
/** A test here, or skipped with the reason in its title where /proc cannot answer. */
const maybe = (title: string, fn: Implementation<[]>): void => (linux ? test(title, fn) : test.skip(`${title} [needs Linux /proc]`, fn));

// Burns 300 ms of its own CPU time, naming its main thread first, then waits for stdin to close.
const BURNER = `require('node:fs').writeFileSync('/proc/thread-self/comm', 'burner');
const start = process.cpuUsage().user;
while (process.cpuUsage().user - start < 300000);
process.stdout.write('burnt\\n');
process.stdin.resume().on('end', () => process.exit(0));`;

maybe("A child's threads are read by name while it runs, and its whole CPU time once it has ended.", async (t) => {
  const before = endedChildrenCpu();
  const child = spawn(process.execPath, ['-e', BURNER], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const main = threadsCpu(child.pid!).find((thread) => thread.tid === child.pid);
  t.is(main?.name, 'burner');
  t.true(main!.userMs >= 250, `${main!.userMs} ms`);
  t.true(processCpuMs(child.pid!) >= main!.userMs);
  child.stdin.end();
  await new Promise((resolve) => child.once('close', resolve));
  const after = endedChildrenCpu();
  t.true(after.userMs - before.userMs >= 250, `${after.userMs - before.userMs} ms`);
  t.deepEqual(threadsCpu(child.pid!), []);
  t.true(Number.isNaN(processCpuMs(child.pid!)));
});
