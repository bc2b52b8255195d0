// Thread names: `top -H`, `ps -L` and perf tell cr's threads apart (the bench's CPU time by
// thread relies on them). Linux only.
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import test, { type Implementation } from 'ava';
import { FIXTURES, runCli, show, tempDir } from './runner/helpers.js';

const linux = process.platform === 'linux' && fs.existsSync('/proc/thread-self/comm');
/** A test here, or skipped with the reason in its title where /proc cannot answer. */
const maybe = (title: string, fn: Implementation<[]>): void => (linux ? test(title, fn) : test.skip(`${title} [needs Linux /proc/thread-self]`, fn));

maybe('nameThread names the calling thread only, cut to the 15 bytes Linux keeps.', async (t) => {
  const before = fs.readFileSync('/proc/thread-self/comm', 'utf8');
  const module = new URL('../src/thread-name.js', import.meta.url).href;
  const worker = new Worker(
    `import(${JSON.stringify(module)}).then(({ nameThread }) => { nameThread('cr-a-name-longer-than-fifteen'); require('node:worker_threads').parentPort.postMessage(require('node:fs').readFileSync('/proc/thread-self/comm', 'utf8')); });`,
    { eval: true },
  );
  const named = await new Promise<string>((resolve, reject) => worker.once('message', resolve).once('error', reject));
  await worker.terminate();
  t.is(named, 'cr-a-name-longe\n');
  t.is(fs.readFileSync('/proc/thread-self/comm', 'utf8'), before);
});

maybe("A job runs on a thread named cr-job, and its image writer's thread is cr-writer.", async (t) => {
  const run = await runCli(t, ['run', path.join(FIXTURES, 'thread-names-job.mjs'), '--store', tempDir(t, 'names'), '--interval', '3600', '--no-progress']);
  t.is(run.code, 0, show(run));
  const result = JSON.parse(run.stdout) as { self: string; threads: string[] };
  t.is(result.self, 'cr-job');
  t.true(result.threads.includes('cr-writer'), result.threads.join(', '));
  t.is(result.threads.filter((name) => name === 'cr-job').length, 1);
});
