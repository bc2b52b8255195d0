// native/install.cjs when the addon cannot build: a copy of the package whose compiler is
// /bin/false installs with exit 0 and one warning (exit 1 under CR_REQUIRE_NATIVE=1), keeps
// node-gyp's output in build/install.log, and cr then runs a job with its portable codec, which
// `doctor` reports with the log's path.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { FIXTURES, ROOT, tempDir } from '../runner/helpers.js';

const WARNING = /^cr: warning: the native addon did not build \(.+\); cr will use its portable codec/;

/** The files an installed package has (package.json's `files`), with node_modules linked. */
function copyPackage(t: ExecutionContext): string {
  const dir = path.join(tempDir(t, 'install'), 'cr-checkpoint');
  fs.mkdirSync(dir);
  for (const entry of ['package.json', 'binding.gyp', 'native', 'scheduler/proto/cr.proto', 'dist/src', 'dist/scheduler']) {
    fs.cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

/** The environment of an install whose C and C++ compiler always fails. */
function brokenCompiler(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CC: '/bin/false', CXX: '/bin/false', ...extra };
  for (const name of ['CR_FORCE_BUILD', 'CR_REQUIRE_NATIVE', 'CR_NATIVE']) if (!(name in extra)) delete env[name];
  return env;
}

function install(dir: string, env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, [path.join(dir, 'native', 'install.cjs')], { cwd: dir, env, encoding: 'utf8', timeout: 5 * 60_000 });
}

test('A failed addon build installs with one warning, and cr runs a job with the portable codec', async (t) => {
  t.timeout(10 * 60_000);
  const dir = copyPackage(t);
  const result = install(dir, brokenCompiler());
  const output = `--- stdout ---\n${result.stdout}--- stderr ---\n${result.stderr}`;
  t.is(result.status, 0, output);
  const warnings = result.stderr.split('\n').filter((line) => line.trim() !== '');
  t.is(warnings.length, 1, output);
  t.regex(warnings[0]!, WARNING);
  t.true(warnings[0]!.includes(path.join(dir, 'build', 'install.log')), warnings[0]);
  t.false(fs.existsSync(path.join(dir, 'build', 'Release', 'cr_native.node')));
  t.regex(fs.readFileSync(path.join(dir, 'build', 'install.log'), 'utf8'), /node-gyp/);

  const cli = path.join(dir, 'dist', 'scheduler', 'cli.js');
  const store = path.join(dir, 'store');
  const run = spawnSync(process.execPath, [cli, 'run', path.join(FIXTURES, 'counter-job.mjs'), '--args', '{"steps": 50, "length": 256}', '--store', store, '--every', '10'], {
    env: brokenCompiler(),
    encoding: 'utf8',
    timeout: 5 * 60_000,
  });
  t.is(run.status, 0, `${run.stdout}\n${run.stderr}`);
  t.like(JSON.parse(run.stdout) as object, { steps: 50, sum: (50 * 51) / 2 });
  t.true(fs.readdirSync(path.join(store, 'counter-job')).some((name) => name.endsWith('.crimg')), 'images were written');

  const doctor = spawnSync(process.execPath, [cli, 'doctor', '--json', '--store', store], { env: brokenCompiler(), encoding: 'utf8', timeout: 5 * 60_000 });
  t.is(doctor.status, 0, doctor.stderr);
  const report = JSON.parse(doctor.stdout) as { addon: { available: boolean; detail: string }; zstd: { value: string } };
  t.false(report.addon.available);
  t.true(report.addon.detail.includes(path.join(dir, 'build', 'install.log')), report.addon.detail);
  t.is(report.zstd.value, 'portable');
});

test('A failed addon build fails the install under CR_REQUIRE_NATIVE=1', (t) => {
  t.timeout(10 * 60_000);
  const dir = copyPackage(t);
  const result = install(dir, brokenCompiler({ CR_REQUIRE_NATIVE: '1' }));
  t.is(result.status, 1, result.stderr);
  t.regex(result.stderr, /^cr: the native addon did not build \(.+\); node-gyp's output is in /m);
  t.true(fs.existsSync(path.join(dir, 'build', 'install.log')));
});
