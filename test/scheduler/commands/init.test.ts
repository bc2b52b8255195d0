// `cr-scheduler init`, and cr as a dependency of another project: the files init writes, what it
// refuses, and (once, slow: it builds the addon) the packed package installed into a new project
// whose TypeScript job is type-checked against the package's types and run.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { PACKAGE_NAME, VERSION } from '../../../src/version.js';
import { ROOT, runCli, show, tempDir } from '../../runner/helpers.js';

test('package.json names the package as the code does', (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; bin: Record<string, string> };
  t.is(pkg.name, PACKAGE_NAME);
  t.is(pkg.version, VERSION);
  t.deepEqual(Object.keys(pkg.bin), ['cr-scheduler']);
});

test('init writes a JavaScript project that depends on this checkout', async (t) => {
  const dir = path.join(tempDir(t, 'init'), 'My Project');
  const run = await runCli(t, ['init', dir]);
  t.is(run.code, 0, show(run));
  t.deepEqual(fs.readdirSync(dir).sort(), ['.gitignore', 'job.mjs', 'package.json']);
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  t.like(pkg, { name: 'my-project', private: true, type: 'module', dependencies: { [PACKAGE_NAME]: `file:${ROOT.replace(/\/$/, '')}` } });
  t.regex(fs.readFileSync(path.join(dir, 'job.mjs'), 'utf8'), new RegExp(`@param \\{import\\('${PACKAGE_NAME}'\\)\\.Cr\\} cr`));
  t.regex(fs.readFileSync(path.join(dir, '.gitignore'), 'utf8'), /^\.cr\/$/m);
  t.regex(run.stdout, /npm install\n {2}npx cr-scheduler run job\.mjs/);
});

test('init runs its job with this checkout as the dependency', async (t) => {
  const dir = tempDir(t, 'init');
  t.is((await runCli(t, ['init', dir])).code, 0);
  // What `npm install` of a file: dependency makes: a link to the checkout.
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', PACKAGE_NAME), 'dir');
  const run = await runCli(t, ['run', path.join(dir, 'job.mjs'), '--args', '{"samples": 2000000}', '--store', path.join(dir, '.cr')]);
  t.is(run.code, 0, show(run));
  const result = JSON.parse(run.stdout) as { pi: number; samples: number };
  t.is(result.samples, 2_000_000);
  t.true(Math.abs(result.pi - Math.PI) < 0.01, String(result.pi));
});

test('init refuses a directory that has a package.json, and writes nothing', async (t) => {
  const dir = tempDir(t, 'init');
  fs.writeFileSync(path.join(dir, 'package.json'), '{"name": "mine"}\n');
  const run = await runCli(t, ['init', dir, '--ts']);
  t.is(run.code, 2, show(run));
  t.regex(run.stderr, new RegExp(`already has package\\.json: nothing was written .*"${PACKAGE_NAME}"`));
  t.deepEqual(fs.readdirSync(dir), ['package.json']);
  t.is(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'), '{"name": "mine"}\n');
});

test('init keeps an existing .gitignore, and --package sets the dependency', async (t) => {
  const dir = tempDir(t, 'init');
  fs.writeFileSync(path.join(dir, '.gitignore'), 'secret\n');
  const run = await runCli(t, ['init', dir, '--ts', '--package', '^0.1.0']);
  t.is(run.code, 0, show(run));
  t.is(fs.readFileSync(path.join(dir, '.gitignore'), 'utf8'), 'secret\n');
  t.deepEqual(fs.readdirSync(dir).sort(), ['.gitignore', 'job.ts', 'package.json', 'tsconfig.json']);
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  t.deepEqual(pkg.dependencies, { [PACKAGE_NAME]: '^0.1.0' });
  t.regex(fs.readFileSync(path.join(dir, 'job.ts'), 'utf8'), new RegExp(`import type \\{ Job \\} from '${PACKAGE_NAME}'`));
});

test('init refuses an empty --package', async (t) => {
  const dir = tempDir(t, 'init');
  const run = await runCli(t, ['init', dir, '--package', ' ']);
  t.is(run.code, 2, show(run));
  t.regex(run.stderr, /--package must not be empty/);
  t.deepEqual(fs.readdirSync(dir), []);
});

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The command and all it printed, for a failure message. */
  output: string;
}

/** Commands still running, each the leader of its own process group (npm's builds run below it). */
const running = new Set<ChildProcess>();

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Runs a command to its end, its process group killed after `timeoutMs` (a hang guard) or when
 * the test ends. Asynchronous, so that the test's worker stays responsive to ava while an
 * install runs for minutes.
 */
function sh(command: string, args: string[], cwd: string, timeoutMs = 15 * 60_000): Promise<Ran> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('CR_') || name.startsWith('npm_')) delete env[name];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => killGroup(child), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      running.delete(child);
      reject(err);
    });
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const output = `$ ${command} ${args.join(' ')} (in ${cwd}): status ${status ?? signal}\n${stdout}\n${stderr}`;
      resolve({ status, stdout, stderr, output });
    });
  });
}

test('The packed package installs into a new project, builds its addon there, and runs a TypeScript job checked against its types', async (t) => {
  t.timeout(25 * 60_000);
  const work = tempDir(t, 'pack');
  t.teardown(() => running.forEach(killGroup));
  // The compiled dist/ this suite runs is what `npm pack` ships (its prepare step would compile it again).
  const pack = await sh('npm', ['pack', '--ignore-scripts', '--pack-destination', work, '--silent'], ROOT);
  t.is(pack.status, 0, pack.output);
  const tarball = path.join(work, pack.stdout.trim().split('\n').pop()!);
  const listing = await sh('tar', ['tzf', tarball], work);
  for (const file of ['package/dist/src/index.d.ts', 'package/dist/scheduler/cli.js', 'package/native/install.cjs', 'package/binding.gyp', 'package/scheduler/proto/cr.proto']) {
    t.true(listing.stdout.split('\n').includes(file), file);
  }
  t.false(listing.stdout.includes('package/dist/test/'), 'tests are not shipped');
  t.false(listing.stdout.includes('package/build/'), 'no addon built here is shipped');

  const project = path.join(work, 'project');
  const init = await sh(process.execPath, [path.join(ROOT, 'dist', 'scheduler', 'cli.js'), 'init', project, '--ts', '--package', `file:${tarball}`], work);
  t.is(init.status, 0, init.output);
  // Dependencies come from npm's cache where it has them. Install scripts are left to the one
  // that matters here, cr's own (run by `npm rebuild`), so that the test does not also compile
  // better-sqlite3 and zstd-napi, which the local runner does not load.
  const installed = await sh('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], project);
  t.is(installed.status, 0, installed.output);
  const rebuilt = await sh('npm', ['rebuild', PACKAGE_NAME, '--foreground-scripts'], project);
  t.is(rebuilt.status, 0, rebuilt.output);
  const addon = path.join(project, 'node_modules', PACKAGE_NAME, 'build', 'Release', 'cr_native.node');
  t.true(fs.existsSync(addon), `the addon was built in the project\n${rebuilt.output}`);

  // The editor's view: the job type-checks against the package's types, and a wrong use does not.
  const tsc = path.join(project, 'node_modules', '.bin', 'tsc');
  const checked = await sh(tsc, ['-p', project], project);
  t.is(checked.status, 0, checked.output);
  fs.writeFileSync(path.join(project, 'wrong.ts'), `import type { Job } from '${PACKAGE_NAME}';\nconst job: Job = async (cr) => cr.region('x', Float64Array, 'ten');\nexport default job;\n`);
  const refused = await sh(tsc, ['-p', project], project);
  t.not(refused.status, 0, refused.output);
  t.regex(refused.stdout, /wrong\.ts\(2,\d+\): error TS2345/);
  fs.rmSync(path.join(project, 'wrong.ts'));

  // A helper that imports the package's `cr` at run time, beside the job compiled to JavaScript.
  const emitted = await sh(tsc, ['-p', project, '--noEmit', 'false', '--outDir', path.join(project, 'out')], project);
  t.is(emitted.status, 0, emitted.output);
  const cli = path.join(project, 'node_modules', '.bin', 'cr-scheduler');
  const run = await sh(cli, ['run', path.join(project, 'out', 'job.js'), '--args', '{"samples": 2000000}', '--every', '1'], project);
  t.is(run.status, 0, run.output);
  const result = JSON.parse(run.stdout) as { pi: number; samples: number };
  t.is(result.samples, 2_000_000);
  t.true(Math.abs(result.pi - Math.PI) < 0.01, String(result.pi));
  t.true(fs.readdirSync(path.join(project, '.cr', 'job')).some((name) => name.endsWith('.crimg')), 'images were written in the project');
  // The TypeScript job itself runs as well, with no build step.
  const direct = await sh(cli, ['run', path.join(project, 'job.ts'), '--args', '{"samples": 2000000}', '--fresh'], project);
  t.is(direct.status, 0, direct.output);
  t.is((JSON.parse(direct.stdout) as { samples: number }).samples, 2_000_000);
  fs.writeFileSync(path.join(project, 'same.mjs'), `import { cr as imported } from '${PACKAGE_NAME}';\nexport default async (cr) => ({ same: imported.attempt === cr.attempt && typeof imported.state === 'function' });\n`);
  const same = await sh(cli, ['run', path.join(project, 'same.mjs')], project);
  t.is(same.status, 0, same.output);
  t.deepEqual(JSON.parse(same.stdout), { same: true });
  const doctor = await sh(cli, ['doctor', '--json'], project);
  t.is(doctor.status, 0, doctor.output);
  t.true((JSON.parse(doctor.stdout) as { addon: { available: boolean } }).addon.available, doctor.stdout);
});
