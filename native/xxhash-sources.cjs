'use strict';
// Called by binding.gyp at configure time. The xxHash C sources are not vendored into this repo:
// they come from the copy that the `xxhash-addon` dependency ships (its xxHash/ directory),
// wherever npm placed it. cr uses only those sources, not that package's own addon.
//
//   node native/xxhash-sources.cjs include   the xxHash directory (for -I)
//   node native/xxhash-sources.cjs sources   xxhash.c, one per line
//   node native/xxhash-sources.cjs dispatch  xxh_x86dispatch.c (x86 only: XXH3 picks SSE2/AVX2/AVX-512 at run time)
//
// Paths are printed relative to the repository root, as gyp wants them (package-sources.cjs).
const path = require('node:path');
const { packageDir, rel } = require('./package-sources.cjs');

const what = process.argv[2];
const dir = packageDir('xxhash-addon', 'xxHash', ['xxhash.h', 'xxhash.c', 'xxh_x86dispatch.c', 'xxh_x86dispatch.h'], 'xxHash');
if (what === 'include') process.stdout.write(rel(dir) + '\n');
else if (what === 'sources') process.stdout.write(rel(path.join(dir, 'xxhash.c')) + '\n');
else if (what === 'dispatch') process.stdout.write(rel(path.join(dir, 'xxh_x86dispatch.c')) + '\n');
else {
  process.stderr.write('usage: node native/xxhash-sources.cjs include|sources|dispatch\n');
  process.exit(2);
}
