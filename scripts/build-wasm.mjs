#!/usr/bin/env node
// Builds every examples/wasm/*.wat into the .wasm beside it with wabt (the WebAssembly Binary
// Toolkit, compiled to JavaScript: the npm package "wabt", a dev dependency). The .wasm files are
// committed, so running the examples needs no build; `npm run build:wasm` remakes them, and
// test/examples/wasm.test.ts checks that the committed files are what this script makes.
//
// Usage: node scripts/build-wasm.mjs [--check]   (--check: exit 1 if a committed .wasm differs)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtModule from 'wabt';

const DIR = fileURLToPath(new URL('../examples/wasm/', import.meta.url));

/** The binary of one .wat source. */
export async function buildWat(source, filename) {
  const wabt = await wabtModule();
  const module = wabt.parseWat(filename, source);
  try {
    module.validate();
    return Buffer.from(module.toBinary({ log: false, write_debug_names: false }).buffer);
  } finally {
    module.destroy();
  }
}

/** [.wat path, .wasm path] of every source. */
export function sources() {
  return fs
    .readdirSync(DIR)
    .filter((f) => f.endsWith('.wat'))
    .sort()
    .map((f) => [path.join(DIR, f), path.join(DIR, f.replace(/\.wat$/, '.wasm'))]);
}

async function main() {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [wat, wasm] of sources()) {
    const binary = await buildWat(fs.readFileSync(wat, 'utf8'), path.basename(wat));
    if (check) {
      const committed = fs.existsSync(wasm) ? fs.readFileSync(wasm) : null;
      if (!committed || !committed.equals(binary)) {
        stale++;
        console.error(`${path.relative(process.cwd(), wasm)} is not what ${path.basename(wat)} builds to: run npm run build:wasm`);
      }
    } else {
      fs.writeFileSync(wasm, binary);
      console.error(`${path.relative(process.cwd(), wasm)}: ${binary.length} bytes`);
    }
  }
  process.exitCode = stale > 0 ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main();
