// `cr-scheduler run` and job identity: a rerun never resumes what other args or code made, a
// finished run prints its recorded result without computing, --fresh and --allow-code-change do
// what they say, and planted entries in the store neither hang nor fail a run.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { EXIT_STOPPED } from '../../scheduler/signals.js';
import { getCodec } from '../../src/codec/index.js';
import { LocalStore } from '../../src/store/local-store.js';
import { rewriteManifest } from '../image/helpers.js';
import { EXAMPLES, FIXTURES, imageFile, listJobDir, resultOf, runCli, show, startCli, tempDir, uninterruptedResult } from './helpers.js';

const COUNTER = path.join(FIXTURES, 'counter-job.mjs');
const HEAT = path.join(EXAMPLES, 'heat2d.mjs');

function counterCommand(store: string, args: Record<string, unknown>, ...extra: string[]): string[] {
  return ['run', COUNTER, '--store', store, '--args', JSON.stringify(args), '--every', '10', '--interval', '3600', '--full-every', '1', '--retry-delay', '0.01', ...extra];
}

/**
 * Name, size and mtime of every file in the job's directory: equal before and after means nothing
 * was written. A run killed mid-commit leaves a temp file that the next run's store clears away:
 * it holds nothing committed, so it is not compared.
 */
function snapshot(store: string, job: string): string[] {
  const dir = path.join(store, job);
  return fs
    .readdirSync(dir)
    .filter((name) => name !== 'lock' && !/^\..*\.tmp\.\d+$/.test(name))
    .sort()
    .map((name) => {
      const stat = fs.statSync(path.join(dir, name));
      return `${name} ${stat.size} ${stat.mtimeMs}`;
    });
}

const REMEDIES = /--fresh +starts it over[^\n]*\n +--name <new name> +runs it beside them[^\n]*\n +--allow-code-change +resumes anyway when only the code changed/;

test('A finished job run again with other args is refused, naming the arg and what to do, and nothing is computed.', async (t) => {
  const store = tempDir(t, 'identity-args');
  const first = await runCli(t, counterCommand(store, { steps: 50 }));
  t.is(first.code, 0, show(first));
  const before = snapshot(store, 'counter-job');

  const other = await runCli(t, counterCommand(store, { steps: 30 }));
  t.is(other.code, 1, show(other));
  t.is(other.stdout, '');
  t.regex(other.stderr, /^job "counter-job" was not run: the finished run of "counter-job" was made by another computation: its args differ \(steps was 50, now 30\)\. Either$/m);
  t.regex(other.stderr, REMEDIES);
  t.notRegex(other.stderr, /resum(ed|ing) /);
  t.deepEqual(snapshot(store, 'counter-job'), before, 'the store is as the finished run left it');
});

test('A run that died is not resumed with other args: the refusal names the image and the arg.', async (t) => {
  const store = tempDir(t, 'identity-died');
  const died = await runCli(t, counterCommand(store, { steps: 200, exitAt: 155 }, '--retries', '0'));
  t.is(died.code, 1, show(died));
  const before = snapshot(store, 'counter-job');
  t.true(listJobDir(store, 'counter-job').images.length > 0);

  // The case: fewer steps from an image taken past them would "resume" at step 150 of 100.
  const fewer = await runCli(t, counterCommand(store, { steps: 100, exitAt: 155 }));
  t.is(fewer.code, 1, show(fewer));
  t.is(fewer.stdout, '');
  t.regex(fewer.stderr, /^job "counter-job" was not run: image 1[45] of "counter-job" was made by another computation: its args differ \(steps was 200, now 100\)\. Either$/m);
  t.notRegex(fewer.stderr, /attempt 1 of "counter-job" failed/, 'a refusal is not a failed attempt');
  t.deepEqual(snapshot(store, 'counter-job'), before);

  // Beside it under another name, the other args run from the beginning.
  const beside = await runCli(t, [...counterCommand(store, { steps: 100 }), '--name', 'counter-100']);
  t.is(beside.code, 0, show(beside));
  t.deepEqual(resultOf(t, beside), await uninterruptedResult(COUNTER, { steps: 100 }));
  t.deepEqual(snapshot(store, 'counter-job'), before);
});

test('The same command after the job finished prints when it finished and its result, exit 0, without computing; its images are pruned to the last.', async (t) => {
  const store = tempDir(t, 'identity-finished');
  const first = await runCli(t, counterCommand(store, { steps: 50 }));
  t.is(first.code, 0, show(first));
  t.deepEqual(
    listJobDir(store, 'counter-job').images.map((i) => i.sequence),
    [5],
    'images 1–4 were pruned when it finished; the last stays for --from',
  );
  const record = JSON.parse(fs.readFileSync(path.join(store, 'counter-job', 'finished.json'), 'utf8')) as { finishedAt: string; attempts: number; image: number };
  t.is(record.attempts, 1);
  t.is(record.image, 5);
  const before = snapshot(store, 'counter-job');

  const again = await runCli(t, counterCommand(store, { steps: 50 }));
  t.is(again.code, 0, show(again));
  t.is(again.stdout, first.stdout);
  t.is(again.stderr, `"counter-job" finished at ${record.finishedAt} after 1 attempt; its result:\n`);
  t.deepEqual(snapshot(store, 'counter-job'), before, 'nothing was written');

  // Key order does not make other args.
  const reordered = await runCli(t, ['run', COUNTER, '--store', store, '--args', '{ "steps" : 50 }', '--every', '10']);
  t.is(reordered.code, 0, show(reordered));
  t.is(reordered.stdout, first.stdout);

  const fresh = await runCli(t, counterCommand(store, { steps: 50 }, '--fresh'));
  t.is(fresh.code, 0, show(fresh));
  t.regex(fresh.stderr, /^--fresh: deleted 1 image and its recorded result of "counter-job"$/m);
  t.is(fresh.stdout, first.stdout);
  t.not((JSON.parse(fs.readFileSync(path.join(store, 'counter-job', 'finished.json'), 'utf8')) as { finishedAt: string }).finishedAt, record.finishedAt);
});

/** A job in two files: `helper.mjs` post-processes the sum the job computes. */
function twoFileJob(t: ExecutionContext): { job: string; helper: string } {
  const dir = tempDir(t, 'two-files');
  const helper = path.join(dir, 'helper.mjs');
  const job = path.join(dir, 'two-files.mjs');
  fs.writeFileSync(helper, 'export function report(sum) { return { sum, doubled: sum * 2 }; }\n');
  fs.writeFileSync(
    job,
    `import { report } from './helper.mjs';
export default async function twoFiles(cr, { steps = 30 } = {}) {
  const s = cr.state('s', { step: 0, sum: 0 });
  if (cr.restored) cr.log(\`two-files: resumed at step \${s.step}\`);
  while (s.step < steps) {
    s.step++;
    s.sum += s.step;
    await cr.checkpoint();
  }
  return report(s.sum);
}
`,
  );
  return { job, helper };
}

test('Changed code is refused naming the file that changed; --allow-code-change resumes from the last image with a warning.', async (t) => {
  const store = tempDir(t, 'identity-code');
  const { job, helper } = twoFileJob(t);
  const command = (...extra: string[]): string[] => ['run', job, '--store', store, '--every', '10', '--interval', '3600', ...extra];
  const first = await runCli(t, command());
  t.is(first.code, 0, show(first));
  t.deepEqual(resultOf(t, first), { sum: 465, doubled: 930 });

  // A fix in post-processing.
  fs.writeFileSync(helper, 'export function report(sum) { return { sum, tripled: sum * 3 }; }\n');
  const refused = await runCli(t, command());
  t.is(refused.code, 1, show(refused));
  t.regex(refused.stderr, /^job "two-files" was not run: the finished run of "two-files" was made by another computation: its code changed \(helper\.mjs changed\)\. Either$/m);
  t.regex(refused.stderr, REMEDIES);

  const allowed = await runCli(t, command('--allow-code-change'));
  t.is(allowed.code, 0, show(allowed));
  t.regex(allowed.stderr, /^warning: resuming from image 3 of "two-files" with changed code \(helper\.mjs changed\), as changed code is allowed$/m);
  t.regex(allowed.stderr, /^two-files: resumed at step 30$/m);
  t.deepEqual(resultOf(t, allowed), { sum: 465, tripled: 1395 });

  // The new result is recorded with the new code: the same command prints it.
  const again = await runCli(t, command());
  t.is(again.code, 0, show(again));
  t.deepEqual(resultOf(t, again), { sum: 465, tripled: 1395 });
  t.regex(again.stderr, /^"two-files" finished at \S+ after 1 attempt; its result:$/m);
});

test('An image written before cr recorded identities is resumed, with a warning that it cannot be checked.', async (t) => {
  const store = tempDir(t, 'identity-none');
  const died = await runCli(t, counterCommand(store, { steps: 200, exitAt: 155 }, '--retries', '0'));
  t.is(died.code, 1, show(died));
  const newest = listJobDir(store, 'counter-job').images.at(-1)!;
  const key = LocalStore.open({ dir: store }).key;
  // As an older cr wrote it: no identity in the manifest, tagged with the store's key.
  rewriteManifest(newest.file, newest.file, key, await getCodec(), (m) => {
    delete m.identity;
  });
  const run = await runCli(t, counterCommand(store, { steps: 200 }));
  t.is(run.code, 0, show(run));
  t.regex(run.stderr, new RegExp(`^warning: image ${newest.sequence} of "counter-job" records no job identity \\(it was written by a cr before \\S+ recorded one\\): its args and code cannot be checked; resuming from it$`, 'm'));
  t.regex(run.stderr, /^counter: resumed at step 1[45]0 /m);
  t.deepEqual(resultOf(t, run), await uninterruptedResult(COUNTER, { steps: 200 }));
});

test('A FIFO named as an image does not hang run: it is passed over with one warning, SIGTERM stops the run at a checkpoint, and the next run resumes.', async (t) => {
  const store = tempDir(t, 'fifo');
  fs.mkdirSync(path.join(store, 'heat2d'));
  const fifo = path.join(store, 'heat2d', '00000007.crimg');
  execFileSync('mkfifo', [fifo]);
  const args = { n: 128, steps: 8000 };
  const command = ['run', HEAT, '--store', store, '--args', JSON.stringify(args), '--every', '1000', '--interval', '3600'];
  const run = startCli(t, command);
  // The FIFO keeps its number: the run's first image is 8.
  await run.waitUntil(() => fs.existsSync(imageFile(store, 'heat2d', 8)), 'the first image');
  run.child.kill('SIGTERM');
  const stopped = await run.exit;
  t.is(stopped.code, EXIT_STOPPED, run.describe());
  t.regex(stopped.stderr, /^job "heat2d" stopped after checkpoint heat2d-\d{8}\. Resume it with:$/m);
  const warning = `warning: passed over ${fifo}: it is a FIFO, not an image file`;
  t.is(stopped.stderr.split('\n').filter((line) => line === warning).length, 1, stopped.stderr);

  const resumed = await runCli(t, command);
  t.is(resumed.code, 0, show(resumed));
  t.regex(resumed.stderr, /^resuming "heat2d" from image heat2d-\d{8} /m);
  t.deepEqual(resultOf(t, resumed), await uninterruptedResult(HEAT, args));
  t.true(fs.lstatSync(fifo).isFIFO(), 'what is not the store\'s own is left alone');
});

test('A directory and an image named with a number beyond 2^53 are passed over, and the run succeeds.', async (t) => {
  const store = tempDir(t, 'planted');
  const dir = path.join(store, 'counter-job');
  fs.mkdirSync(path.join(dir, '00000007.crimg'), { recursive: true });
  const first = await runCli(t, counterCommand(tempDir(t, 'planted-source'), { steps: 20 }));
  t.is(first.code, 0, show(first));
  fs.writeFileSync(path.join(dir, '9007199254740993.crimg'), 'not an image of this store\n');
  const run = await runCli(t, counterCommand(store, { steps: 20 }));
  t.is(run.code, 0, show(run));
  t.regex(run.stderr, new RegExp(`^warning: passed over ${dir}/00000007\\.crimg: it is a directory, not an image file$`, 'm'));
  t.regex(run.stderr, new RegExp(`^warning: passed over ${dir}/9007199254740993\\.crimg: its name is not an image name`, 'm'));
  t.is(run.stdout, first.stdout);
});
