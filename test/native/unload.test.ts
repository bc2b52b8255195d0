// The addon's encode pool is process-wide and its threads never end, so the library must stay
// mapped after the worker thread that loaded it exits (Node dlcloses an addon when the last
// environment that loaded it goes away). Checked in a fresh process whose main thread never
// loads the addon itself, which is how `cr-scheduler run` uses it.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { nativeAddonFile } from '../../src/native/binding.js';

const addonFile = nativeAddonFile();

const script = `
const { Worker } = require('node:worker_threads');
const fs = require('node:fs');
const addon = ${JSON.stringify(addonFile)};
const mapped = () => fs.readFileSync('/proc/self/maps', 'utf8').includes(addon);
const before = mapped();
const worker = new Worker(
  "const b = require(" + JSON.stringify(addon) + "); b.hash64(new Uint8Array(1 << 20)); b.compressFrame(new Uint8Array(1 << 20), 1);",
  { eval: true },
);
worker.on('exit', (code) => setTimeout(() => console.log(JSON.stringify({ before, code, after: mapped() })), 100));
`;

const TITLE = 'The addon stays loaded after the only worker thread that loaded it has exited.';
if (process.platform === 'linux') test(TITLE, staysLoaded);
else test.skip(`${TITLE} [/proc/self/maps is Linux only]`, staysLoaded);

function staysLoaded(t: ExecutionContext): void {
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { before: boolean; code: number; after: boolean };
  t.false(out.before, 'the main thread of the probe must not have loaded the addon');
  t.is(out.code, 0);
  t.true(out.after, 'cr_native.node was unmapped when the worker exited: the pool threads parked in it would crash');
}
