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
const { packageDir, rel } = require('./package-sources.cjs');

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
const lib = packageDir('zstd-napi', path.join('deps', 'zstd', 'lib'), ['zstd.h'], 'zstd');
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
