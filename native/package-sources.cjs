'use strict';
// What zstd-sources.cjs and xxhash-sources.cjs share: the C sources cr compiles come from npm
// dependencies that ship them, wherever npm placed those packages, and gyp wants their paths
// relative to the repository root with forward slashes.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

/** `sub` inside package `pkg`, after checking that it holds each of `files`. */
function packageDir(pkg, sub, files, what) {
  let json;
  try {
    json = require.resolve(`${pkg}/package.json`, { paths: [root] });
  } catch {
    throw new Error(`cr: the ${what} sources come from the ${pkg} package; install dependencies first (npm ci)`);
  }
  const dir = path.join(path.dirname(json), sub);
  for (const name of files) {
    if (!fs.existsSync(path.join(dir, name))) throw new Error(`cr: ${dir} has no ${name}; ${pkg} no longer ships the ${what} sources there`);
  }
  return dir;
}

function rel(p) {
  // gyp wants forward slashes even on Windows.
  return path.relative(root, p).split(path.sep).join('/');
}

module.exports = { packageDir, rel };
