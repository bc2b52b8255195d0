'use strict';
// npm's install hook for the addons: builds them with node-gyp unless build/Release/cr_native.node
// (the job addon) and cr_exec.node (the scheduler's) are newer than binding.gyp and every file in
// native/, and the job addon was built for this Node's major version. `npx cr-scheduler` installs the package
// into npm's cache as a link and runs this hook again; without the check it would rebuild the
// addon (about a minute) under every process that has it loaded.
//
// A failed build does not fail the install: cr falls back to its portable codec, so this hook
// prints one warning, keeps node-gyp's output in build/install.log (`cr-scheduler doctor` points
// there) and exits 0. CR_REQUIRE_NATIVE=1 makes a failed build fail the install instead.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const outputs = ['cr_native.node', 'cr_exec.node'].map((name) => path.join(root, 'build', 'Release', name));
const log = path.join(root, 'build', 'install.log');

function newestSource() {
  let newest = fs.statSync(path.join(root, 'binding.gyp')).mtimeMs;
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else newest = Math.max(newest, fs.statSync(file).mtimeMs);
    }
  };
  walk(__dirname);
  return newest;
}

/** Whether the job addon at hand was built for this Node (it uses the V8 API, which ties it to one major version). */
function builtForThisNode() {
  try {
    return require(outputs[0]).nodeModuleVersion === Number(process.versions.modules);
  } catch {
    return false;
  }
}

if (
  process.env.CR_FORCE_BUILD !== '1' &&
  outputs.every((output) => fs.existsSync(output) && fs.statSync(output).mtimeMs >= newestSource()) &&
  builtForThisNode()
) {
  console.log('cr: the native addon is up to date (CR_FORCE_BUILD=1 rebuilds it)');
  process.exit(0);
}

// npm gives its own node-gyp to install scripts; fall back to ours (a devDependency), then PATH.
let gyp = process.env.npm_config_node_gyp;
if (!gyp) {
  try {
    gyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
  } catch {
    gyp = null;
  }
}
const gypArgs = ['rebuild', '-j', 'max'];
// Build against the headers of the Node that runs here: they sit beside it (<prefix>/include/node)
// in distribution packages, the official tarballs, nvm, Volta and Homebrew, and using them needs
// no network. Without them (or with a nodedir the user configured) node-gyp finds or downloads
// the headers its usual way.
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node.h'))) {
  gypArgs.push(`--nodedir=${prefix}`);
}
const [command, args] = gyp ? [process.execPath, [gyp, ...gypArgs]] : ['node-gyp', gypArgs];
console.log('cr: building the native addon (about a minute)');
const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
if (result.status === 0) {
  process.stdout.write(result.stdout);
  process.exit(0);
}

const why = result.error ? `cannot run node-gyp: ${result.error.message}` : lastError(`${result.stdout}\n${result.stderr}`);
fs.mkdirSync(path.dirname(log), { recursive: true });
fs.writeFileSync(log, `${command} ${args.join(' ')}\n\n${result.stdout ?? ''}${result.stderr ?? ''}`);
if (process.env.CR_REQUIRE_NATIVE === '1') {
  console.error(`cr: the native addon did not build (${why}); node-gyp's output is in ${log}`);
  process.exit(1);
}
console.warn(
  `cr: warning: the native addon did not build (${why}); cr will use its portable codec, which ` +
    `is slower. node-gyp's output is in ${log}; \`npx cr-scheduler doctor\` shows what this machine gives cr.`,
);
process.exit(0);

/** The first line of node-gyp's output that names the failure, shortened. */
function lastError(text) {
  const lines = text.split('\n').map((line) => line.trim()).filter(Boolean);
  const found =
    lines.find((line) => /\berror\b/i.test(line) && !/^gyp (ERR|info)/.test(line)) ??
    lines.find((line) => /^gyp ERR! stack Error:/.test(line)) ??
    lines.find((line) => /^gyp ERR!/.test(line)) ??
    `node-gyp exited with status ${result.status ?? result.signal}`;
  return found.length > 200 ? `${found.slice(0, 197)}...` : found;
}
