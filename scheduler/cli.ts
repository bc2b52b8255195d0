#!/usr/bin/env node
// cr-scheduler's entry point. It chooses V8's garbage collector for the process before the
// command line (program.ts) loads, then runs it.
//
// A scheduler that runs no jobs itself (`serve --no-local-agent`) collects garbage on its own
// thread: its heap is small, and V8's parallel and concurrent collector threads cost it more CPU
// than they save, on the main thread too (about twice the CPU per MiB uploaded, on a 2-core
// machine). V8 takes that mode only at start-up (set later, it trips a check in
// its marker and aborts), so the process replaces itself (exec.ts: the same pid) with Node
// started with `--single-threaded-gc`, before anything else has run. Every other command keeps
// V8's default, `serve` with its embedded agent too (jobs run in processes of their own, started
// without this process's flags, either way). CR_SCHEDULER_GC=parallel or =single overrides;
// without the exec addon, the default stays.
const SINGLE = '--single-threaded-gc';
const command = process.argv.slice(2).find((a) => !a.startsWith('-'));
const fallback = command === 'serve' && process.argv.includes('--no-local-agent') ? 'single' : 'parallel';
let mode = process.env.CR_SCHEDULER_GC ?? fallback;
if (mode !== 'single' && mode !== 'parallel') {
  process.stderr.write(`cr-scheduler: CR_SCHEDULER_GC is "single" or "parallel", not ${JSON.stringify(mode)}; going on with ${fallback}\n`);
  mode = fallback;
}
if (mode === 'single' && !process.execArgv.includes(SINGLE)) {
  const { loadExec } = await import('./exec.js');
  try {
    loadExec()?.(process.execPath, [process.execPath, ...process.execArgv, SINGLE, ...process.argv.slice(1)]);
  } catch (err) {
    // execv failed (it returns only then): this process goes on, under the default collector.
    process.stderr.write(`cr-scheduler: could not restart Node with ${SINGLE} (${(err as Error).message}); going on with V8's default garbage collector\n`);
  }
}

await import('./program.js');
