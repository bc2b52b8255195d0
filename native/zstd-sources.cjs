'use strict';
// Called by binding.gyp at configure time. The zstd C sources are not vendored into this repo:
// they come from the copy that the `zstd-napi` dependency ships, wherever npm placed it
// (node_modules/zstd-napi, or a parent node_modules when cr is itself a dependency).
//
//   node native/zstd-sources.cjs include   the zstd lib/ directory (for -I)
//   node native/zstd-sources.cjs sources   the .c files to compile, one per line
//   node native/zstd-sources.cjs asm       the x86-64 Huffman decoder (.S), for the gyp conditions
//
// Paths are printed relative to the repository root because gyp runs this from there and
// puts object files under paths derived from the source paths.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function zstdLibDir() {
  let pkg;
  try {
    pkg = require.resolve('zstd-napi/package.json', { paths: [root] });
  } catch {
    throw new Error('cr: the zstd sources come from the zstd-napi package; install dependencies first (npm ci)');
  }
  const lib = path.join(path.dirname(pkg), 'deps', 'zstd', 'lib');
  if (!fs.existsSync(path.join(lib, 'zstd.h'))) {
    throw new Error(`cr: ${lib} has no zstd.h; zstd-napi no longer ships the zstd sources there`);
  }
  return lib;
}

function rel(p) {
  // gyp wants forward slashes even on Windows.
  return path.relative(root, p).split(path.sep).join('/');
}

function cSources(lib) {
  const out = [];
  for (const dir of ['common', 'compress', 'decompress']) {
    for (const name of fs.readdirSync(path.join(lib, dir)).sort()) {
      if (name.endsWith('.c')) out.push(rel(path.join(lib, dir, name)));
    }
  }
  return out;
}

const what = process.argv[2];
const lib = zstdLibDir();
if (what === 'include') {
  process.stdout.write(rel(lib) + '\n');
} else if (what === 'sources') {
  process.stdout.write(cSources(lib).join('\n') + '\n');
} else if (what === 'asm') {
  process.stdout.write(rel(path.join(lib, 'decompress', 'huf_decompress_amd64.S')) + '\n');
} else {
  process.stderr.write('usage: node native/zstd-sources.cjs include|sources|asm\n');
  process.exit(2);
}
