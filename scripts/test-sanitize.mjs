// npm run test:sanitize: builds the addon with clang under AddressSanitizer and
// UndefinedBehaviorSanitizer into build-sanitize/ (build/ keeps the normal addon), then runs the
// addon's own tests against that build (docs/testing.md). Node itself is not instrumented, so the
// sanitizers' runtime is preloaded into every process the tests start (LD_PRELOAD), and the
// tests load the instrumented addon through CR_NATIVE_FILE.
//
//   npm run test:sanitize                   build, then run the tests
//   npm run test:sanitize -- --no-build     run them against the last build
//   npm run test:sanitize -- test/native/cow.test.ts   only these files
//
// CR_CLANG / CR_CLANGXX name the compilers (default clang, clang++). Leak detection is off:
// Node and V8 keep process-lifetime allocations that LeakSanitizer would list at every exit.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'build-sanitize');
const addon = path.join(dir, 'build', 'Release', 'cr_native.node');
// The addon's own tests, less install.test.ts: it tests an install whose build fails (and
// CR_NATIVE_FILE below would hand it this build anyway); and the state serializer's, which drive
// the addon's serializeValue (V8's serializer through the V8 API) with every kind of value.
const DEFAULT_TESTS = [
  ...fs.readdirSync(path.join(root, 'test', 'native')).filter((f) => f.endsWith('.test.ts') && f !== 'install.test.ts').map((f) => `test/native/${f}`),
  ...fs.readdirSync(path.join(root, 'test', 'codec')).filter((f) => f.startsWith('native') && f.endsWith('.test.ts')).map((f) => `test/codec/${f}`),
  'test/capture/state-serializer.test.ts',
];

const argv = process.argv.slice(2);
const build = !argv.includes('--no-build');
const files = argv.filter((a) => !a.startsWith('--'));

function fail(message) {
  console.error(`test:sanitize: ${message}`);
  process.exit(1);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.error) fail(`cannot run ${command}: ${result.error.message}`);
  return result.status ?? 1;
}

const cc = process.env.CR_CLANG || 'clang';
const cxx = process.env.CR_CLANGXX || 'clang++';
const probe = spawnSync(cc, ['-print-file-name=libclang_rt.asan-x86_64.so'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) {
  fail(`${cc} not found: install clang and its sanitizer runtime (Debian: apt-get install -y clang libclang-rt-14-dev), or set CR_CLANG`);
}
const runtime = probe.stdout.trim();
if (!path.isAbsolute(runtime) || !fs.existsSync(runtime)) {
  fail(`${cc} has no AddressSanitizer runtime (${runtime}): install libclang-rt-<version>-dev`);
}

if (build) {
  // node-gyp builds into <cwd>/build, so the sanitizer build gets a directory of its own that
  // links to the sources.
  fs.mkdirSync(dir, { recursive: true });
  for (const name of ['binding.gyp', 'native', 'node_modules']) {
    const link = path.join(dir, name);
    fs.rmSync(link, { force: true, recursive: false });
    fs.symlinkSync(path.join(root, name), link);
  }
  // -O1 and frame pointers for readable reports; after gyp's -O3 on the command line, so they win.
  // vptr checks need RTTI, which node-gyp turns off.
  const flags = '-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined';
  const env = {
    ...process.env,
    CC: cc,
    CXX: cxx,
    LINK: cxx,
    CFLAGS: flags,
    CXXFLAGS: flags,
    // The runtime comes from LD_PRELOAD at run time (node is not instrumented).
    LDFLAGS: '-fsanitize=address,undefined -shared-libasan',
  };
  const gyp = path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const gypArgs = [gyp, 'rebuild', '-j', 'max'];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node.h'))) gypArgs.push(`--nodedir=${prefix}`);
  if (run(process.execPath, gypArgs, { cwd: dir, env }) !== 0) fail('the sanitizer build failed');
}
if (!fs.existsSync(addon)) fail(`no sanitizer build at ${addon}: run without --no-build`);

// Instrumented, or the run would prove nothing.
const symbols = spawnSync('nm', ['-D', addon], { encoding: 'utf8' });
if (!symbols.error && !/__asan_report_load/.test(symbols.stdout)) fail(`${addon} is not instrumented by AddressSanitizer`);

const env = {
  ...process.env,
  CR_NATIVE_FILE: addon,
  // The stress test of teardown.test.ts with fewer processes: each is many times slower here.
  CR_TEARDOWN_PROCESSES: process.env.CR_TEARDOWN_PROCESSES || '12',
  LD_PRELOAD: runtime,
  // abort_on_error: a report ends the process with SIGABRT, which the tests' child processes and
  // ava report as a failure. Node handles SEGV itself (stack overflow checks), so ASan leaves it.
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:halt_on_error=1:handle_segv=0:allow_user_segv_handler=1:detect_odr_violation=0',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
};
const ava = path.join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
const status = run(process.execPath, [ava, '--serial', ...(files.length > 0 ? files : DEFAULT_TESTS)], { cwd: root, env });
console.log(status === 0 ? 'test:sanitize: clean (AddressSanitizer + UndefinedBehaviorSanitizer)' : 'test:sanitize: FAILED');
process.exit(status);
