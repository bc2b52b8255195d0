import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../runner/helpers.js';

interface BuildScript {
  buildWat(source: string, filename: string): Promise<Buffer>;
  sources(): [string, string][];
}

const load = async (): Promise<BuildScript> => (await import(pathToFileURL(path.join(ROOT, 'scripts', 'build-wasm.mjs')).href)) as BuildScript;

test('every committed .wasm of the examples is what scripts/build-wasm.mjs builds from its .wat', async (t) => {
  const { buildWat, sources } = await load();
  const list = sources();
  t.true(list.length >= 1);
  for (const [wat, wasm] of list) {
    const built = await buildWat(fs.readFileSync(wat, 'utf8'), path.basename(wat));
    t.true(built.equals(fs.readFileSync(wasm)), `${wasm} is stale: run npm run build:wasm`);
  }
});

test('a .wat with an error is refused with wabt\'s message naming the line', async (t) => {
  const { buildWat } = await load();
  const error = await t.throwsAsync(buildWat('(module (func (result i32) (i32.add (i32.const 1))))', 'bad.wat'));
  t.regex(error!.message, /bad\.wat:1/);
});
