'use strict';
// npm's install hook for the addon: builds it with node-gyp unless build/Release/cr_native.node
// is newer than binding.gyp and every file in native/. `npx cr-scheduler` installs the package
// into npm's cache as a link and runs this hook again; without the check it would rebuild the
// addon (about a minute) under every process that has it loaded.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const output = path.join(root, 'build', 'Release', 'cr_native.node');

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

if (process.env.CR_FORCE_BUILD !== '1' && fs.existsSync(output) && fs.statSync(output).mtimeMs >= newestSource()) {
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
// Build against the headers of the Node that runs here (never download them: the machine may be
// offline). npm passes .npmrc's nodedir itself; run by hand, find the headers beside this Node.
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node.h'))) {
  gypArgs.push(`--nodedir=${prefix}`);
}
const [command, args] = gyp ? [process.execPath, [gyp, ...gypArgs]] : ['node-gyp', gypArgs];
const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
if (result.error) {
  console.error(`cr: cannot run node-gyp (${result.error.message}); the portable codec will be used`);
  process.exit(1);
}
process.exit(result.status ?? 1);
