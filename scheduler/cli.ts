#!/usr/bin/env node
// cr-scheduler's entry point. It chooses V8's garbage collector for the process before the
// command line (program.ts) loads, then runs it.
//
// A scheduler that runs no jobs itself (`serve --no-local-agent`) collects garbage on its own
// thread: its heap is small (about 15 MB), and V8's parallel and concurrent collector threads
// cost it more CPU than they saved, on the main thread too (measured on this kind of 2-core
// machine, 256 MiB uploads: 3.3–3.7 ms of scheduler CPU per MiB with them, 1.6–2.3 without;
// upload 220–275 MiB/s median against 270–330). V8 takes that mode only at start-up (set later,
// it trips a check in its marker and aborts), so the process replaces itself (execv, the same
// pid) with Node started with `--single-threaded-gc`, before anything else has run. Every other
// command keeps V8's default, `serve` with its embedded agent too (not measured with this mode;
// jobs run in processes of their own, started without this process's flags, either way).
// CR_SCHEDULER_GC=parallel or =single overrides; without the native addon, the default stays.
const SINGLE = '--single-threaded-gc';
const command = process.argv.slice(2).find((a) => !a.startsWith('-'));
const fallback = command === 'serve' && process.argv.includes('--no-local-agent') ? 'single' : 'parallel';
let mode = process.env.CR_SCHEDULER_GC ?? fallback;
if (mode !== 'single' && mode !== 'parallel') {
  process.stderr.write(`cr-scheduler: CR_SCHEDULER_GC is "single" or "parallel", not ${JSON.stringify(mode)}; going on with ${fallback}\n`);
  mode = fallback;
}
if (mode === 'single' && !process.execArgv.includes(SINGLE)) {
  const { loadNative } = await import('../src/native/binding.js');
  try {
    loadNative().binding?.exec(process.execPath, [process.execPath, ...process.execArgv, SINGLE, ...process.argv.slice(1)]);
  } catch (err) {
    // execv failed (it returns only then): this process goes on, under the default collector.
    process.stderr.write(`cr-scheduler: could not restart Node with ${SINGLE} (${(err as Error).message}); going on with V8's default garbage collector\n`);
  }
}

await import('./program.js');
