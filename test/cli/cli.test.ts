// The command line as a user meets it: help on every command, usage errors (exit 2, the flag
// named, no stack trace), and `image inspect` / `image verify` on good and damaged images.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { STORE_KEY_FILE } from '../../src/store/local-store.js';
import { CLI, EXAMPLES, FIXTURES, STACK_FRAME, flipBitInBlock, runCli, show, tempDir } from '../runner/helpers.js';

const HEAT = path.join(EXAMPLES, 'heat2d.mjs');
const COUNTER = path.join(FIXTURES, 'counter-job.mjs');

/** Help text with its line wrapping undone, so that "(default: 3, env:\n CR_RETRIES)" matches. */
const flat = (text: string): string => text.replace(/\s+/g, ' ');

const HELP: { command: string[]; lists: string[] }[] = [
  {
    command: ['run', '--help'],
    lists: [
      'Usage: cr-scheduler run [options] <job>',
      '--args <json>',
      '--name <name>',
      '--store <dir>',
      '--interval <seconds>',
      '--every <n>',
      '--mtbf <seconds>',
      '--retries <n>',
      '--retry-delay <seconds>',
      '--from <image>',
      '--fresh',
      '--keep <n>',
      '--key-file <file>',
      '--level <n>',
      '--codec <codec>',
      '--max-heap <MiB>',
      '--no-progress',
      '-q, --quiet',
      '(default: ".cr", env: CR_STORE)',
      '(default: 60, env: CR_INTERVAL)',
      '(env: CR_MTBF)',
      '(default: 3, env: CR_RETRIES)',
      '(default: 3, env: CR_KEEP)',
      '(env: CR_KEY_FILE)',
      'default: "auto", env: CR_CODEC)',
      '--allow-code-change',
      '--metrics-file <file>',
      '(env: CR_METRICS_FILE)',
      'after the job finished, it prints the recorded result without computing. Images made with other --args or code are not resumed (see --fresh, --name, --allow-code-change).',
      'Exit status: 0 when the job succeeded, 75 when it stopped after a signal and resumes when run again (EX_TEMPFAIL: batch scripts requeue on it, see docs/hpc.md), 1 when it failed or was not run (other args or code than its images\'), 2 on a usage error.',
    ],
  },
  { command: ['report', '--help'], lists: ['Usage: cr-scheduler report [options] <file>', '--job <name>', '--json', "Young's interval, sqrt(2 × checkpoint cost × MTBF)"] },
  { command: ['image', '--help'], lists: ['Usage: cr-scheduler image [options] [command]', 'inspect [options] <file>', 'verify [options] <file...>'] },
  {
    command: ['image', 'inspect', '--help'],
    lists: ['Usage: cr-scheduler image inspect [options] <file>', '--key-file <file>', '(env: CR_KEY_FILE)', '--json'],
  },
  {
    command: ['image', 'verify', '--help'],
    lists: ['Usage: cr-scheduler image verify [options] <file...>', '--key-file <file>', '(env: CR_KEY_FILE)', '--json'],
  },
];

for (const { command, lists } of HELP) {
  test(`"cr-scheduler ${command.join(' ')}" exits 0 and lists the options.`, async (t) => {
    const run = await runCli(t, command);
    t.is(run.code, 0, show(run));
    t.is(run.stderr, '');
    const text = flat(run.stdout);
    for (const item of lists) t.true(text.includes(item), `"${item}" is not in the help:\n${run.stdout}`);
  });
}

const USAGE_ERRORS: { what: string; args: string[]; message: RegExp }[] = [
  { what: 'An unknown flag', args: ['--bogus'], message: /^error: unknown option '--bogus'$/m },
  {
    what: 'A negative --interval',
    args: ['--interval', '-1'],
    message: /^error: option '--interval <seconds>' argument '-1' is invalid\. --interval must be a positive number, got "-1"$/m,
  },
  { what: 'An --every of 0', args: ['--every', '0'], message: /^error: option '--every <n>' argument '0' is invalid\. --every must be a whole number ≥ 1, got "0"$/m },
  {
    what: 'Malformed --args JSON',
    args: ['--args', '{bad'],
    message: /^error: option '--args <json>' argument '\{bad' is invalid\. not valid JSON \(.+\); quote it for the shell, e.g\. --args '\{"n": 256\}'$/m,
  },
  { what: 'An unknown --codec', args: ['--codec', 'zip'], message: /^error: option '--codec <codec>' argument 'zip' is invalid\. Allowed choices are auto, native, portable\.$/m },
  { what: 'A --level above zstd\'s range', args: ['--level', '40'], message: /^cr-scheduler: --level must be from 1 to 22, got 40$/m },
  { what: 'An unknown --dirty', args: ['--dirty', 'mprotect'], message: /^error: option '--dirty <how>' argument 'mprotect' is invalid\. Allowed choices are auto, hash\.$/m },
];

for (const { what, args, message } of USAGE_ERRORS) {
  test(`${what} exits 2 with a message naming the flag, no stack trace, and touches no store.`, async (t) => {
    const store = path.join(tempDir(t, 'usage'), 'store');
    const run = await runCli(t, ['run', COUNTER, '--store', store, ...args]);
    t.is(run.code, 2, show(run));
    t.is(run.stdout, '');
    t.regex(run.stderr, message);
    t.notRegex(run.stderr, STACK_FRAME);
    t.false(fs.existsSync(store), 'a usage error must not create the store');
  });
}

test('A job file that does not exist exits 2 with "no job file".', async (t) => {
  const missing = path.join(tempDir(t, 'missing'), 'nope.mjs');
  const run = await runCli(t, ['run', missing, '--store', path.join(path.dirname(missing), 'store')]);
  t.is(run.code, 2, show(run));
  t.is(run.stderr, `cr-scheduler: no job file at ${missing}\n`);
  t.is(run.stdout, '');
});

test('An unknown command exits 2 and names it.', async (t) => {
  const run = await runCli(t, ['frobnicate']);
  t.is(run.code, 2, show(run));
  t.regex(run.stderr, /^error: unknown command 'frobnicate'$/m);
  t.notRegex(run.stderr, STACK_FRAME);
});

test('A mistyped command gets the suggestion on a line of its own, and a control character in it stays escaped.', async (t) => {
  const run = await runCli(t, ['bogus']);
  t.is(run.code, 2, show(run));
  t.is(run.stderr, "error: unknown command 'bogus'\n(Did you mean logs?)\n(add --help for usage)\n");
  const sneaky = await runCli(t, ['log\ns']);
  t.is(sneaky.code, 2, show(sneaky));
  t.true(sneaky.stderr.startsWith("error: unknown command 'log\\ns'\n"), sneaky.stderr);
});

/** A store of its own holding the images of a finished heat2d run; returns its newest image. */
async function heatImage(t: ExecutionContext): Promise<{ store: string; image: string }> {
  const store = tempDir(t, 'image');
  const run = await runCli(t, ['run', HEAT, '--store', store, '--args', '{"n":64,"steps":200}', '--every', '100', '--interval', '3600']);
  t.is(run.code, 0, show(run));
  return { store, image: path.join(store, 'heat2d', '00000002.crimg') };
}

test('image inspect shows the header, every section with its ratio, and the total ratio.', async (t) => {
  const { store, image } = await heatImage(t);
  const run = await runCli(t, ['image', 'inspect', image]);
  t.is(run.code, 0, show(run));
  const out = run.stdout;
  t.regex(out, /^image {6}heat2d-00000002$/m);
  t.regex(out, /^job {8}heat2d, sequence 2, attempt 1$/m);
  t.regex(out, new RegExp(`^tag {8}verified with ${path.join(store, STORE_KEY_FILE)}$`, 'm'));
  t.regex(out, /^kind {7}(full image|incremental after heat2d-00000001; shares .* with image 1)$/m);
  t.regex(out, /^kind +name +holds +raw +stored +ratio +blocks +shared$/m);
  t.regex(out, /^state +heat +value +\d+ B +\d+ B +\d+\.\d\d× +1 +\d+ B$/m);
  for (const region of ['u0', 'u1']) {
    t.regex(out, new RegExp(`^region +${region} +Float64Array\\(4096\\) +32\\.0 KiB +[\\d.]+ (B|KiB) +\\d+\\.\\d\\d× +1 +[\\d.]+ (B|KiB)$`, 'm'));
  }
  t.regex(out, /^total {6}[\d.]+ KiB of data in [\d.]+ KiB of blocks \(\d+\.\d\d×\), [\d.]+ (B|KiB) of them in this file$/m);

  const json = await runCli(t, ['image', 'inspect', '--json', image]);
  t.is(json.code, 0, show(json));
  const parsed = JSON.parse(json.stdout) as { authenticated: boolean; sections: { name: string; raw: number }[]; rawBytes: number };
  t.true(parsed.authenticated);
  t.deepEqual(
    parsed.sections.map((s) => s.name),
    ['cr:clock', 'heat', 'u0', 'u1'],
  );
  t.is(parsed.rawBytes, parsed.sections.reduce((sum, s) => sum + s.raw, 0));
});

test('image verify exits 0 on a good image and 1 with the error on a damaged one.', async (t) => {
  const { image } = await heatImage(t);
  const good = await runCli(t, ['image', 'verify', image]);
  t.is(good.code, 0, show(good));
  t.regex(good.stdout, /^OK {2}.+: image heat2d-00000002, 4 sections, .*tag and every hash verified\n$/);
  t.true(good.stdout.startsWith(`OK  ${image}: `), good.stdout);

  await flipBitInBlock(image, 'u1');
  const bad = await runCli(t, ['image', 'verify', image]);
  t.is(bad.code, 1, show(bad));
  t.is(bad.stdout, '');
  t.is(bad.stderr, `cr-scheduler: ${image}: region "u1" block 0 is damaged: its stored bytes do not match their hash\n`);
});

test('A reader that goes away (| head) ends cr quietly: no EPIPE stack trace, exit 0.', async (t) => {
  // The pipe's read end is closed before cr starts, so its first write meets EPIPE.
  const child = spawn(process.execPath, [CLI, 'run', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  t.is(stderr, '');
  t.is(code, 0);
});

test('image verify takes several images and prints a result for each, as text or one JSON object per line, failures included.', async (t) => {
  const { store, image: good } = await heatImage(t);
  // A damaged copy in a copy of the store (whose key it finds beside it).
  const copy = tempDir(t, 'verify-copy');
  fs.cpSync(store, copy, { recursive: true });
  const image = path.join(copy, path.relative(store, good));
  await flipBitInBlock(image, 'u1');
  const missing = path.join(path.dirname(image), 'nope.crimg');
  const damage = `${image}: region "u1" block 0 is damaged: its stored bytes do not match their hash`;

  const text = await runCli(t, ['image', 'verify', good, image, missing]);
  t.is(text.code, 1, show(text));
  t.regex(text.stdout, /^OK {2}.+00000002\.crimg: image heat2d-00000002, 4 sections, .*tag and every hash verified\n$/);
  t.is(text.stderr, `cr-scheduler: ${damage}\ncr-scheduler: no file at ${missing}\n`);

  const json = await runCli(t, ['image', 'verify', '--json', good, image, missing]);
  t.is(json.code, 1, show(json));
  t.is(json.stderr, '');
  const results = json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.deepEqual(results[0], { file: good, ok: true, id: 'heat2d-00000002', sections: 4, blocks: results[0]!.blocks });
  t.deepEqual(results[1], { file: image, ok: false, code: 'CR_IMAGE_CORRUPT', error: damage });
  t.deepEqual(results[2], { file: missing, ok: false, code: 'CR_USAGE', error: `no file at ${missing}` });

  const onlyMissing = await runCli(t, ['image', 'verify', '--json', missing]);
  t.is(onlyMissing.code, 2, show(onlyMissing));
  t.deepEqual(JSON.parse(onlyMissing.stdout), { file: missing, ok: false, code: 'CR_USAGE', error: `no file at ${missing}` });
});

test('image verify without a key exits 2 telling to pass --key-file, and checks the tag with it.', async (t) => {
  const { store, image } = await heatImage(t);
  // Away from its store, the image has no key beside it (the images before it come along:
  // an incremental image reads blocks from them).
  const moved = path.join(tempDir(t, 'keyless'), 'a', 'heat2d', path.basename(image));
  fs.cpSync(path.dirname(image), path.dirname(moved), { recursive: true });

  const keyless = await runCli(t, ['image', 'verify', moved]);
  t.is(keyless.code, 2, show(keyless));
  t.is(keyless.stderr, `cr-scheduler: no image key found for ${moved}: give the store's key with --key-file\n`);

  const keyed = await runCli(t, ['image', 'verify', moved, '--key-file', path.join(store, STORE_KEY_FILE)]);
  t.is(keyed.code, 0, show(keyed));
  t.regex(keyed.stdout, /^OK {2}.+tag and every hash verified$/m);

  const otherKey = path.join(path.dirname(moved), 'other.key');
  fs.writeFileSync(otherKey, Buffer.alloc(32, 7));
  const wrong = await runCli(t, ['image', 'verify', moved, '--key-file', otherKey]);
  t.is(wrong.code, 1, show(wrong));
  t.is(wrong.stderr, `cr-scheduler: ${moved}: the image tag does not match: it was written with another key, or altered since\n`);
});
