// The job identity rule (src/runner/identity.ts): canonical args, what a difference says, and
// the runner refusing, without a retry, an image another computation made, as the cluster
// agent's runner does at restore.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { IdentityMismatchError } from '../../src/errors.js';
import { canonicalJson, checkResume, codeOfFiles, jobIdentity, sha256Hex } from '../../src/runner/identity.js';
import { isRetryable, JobRunner, type RunOptions } from '../../src/runner/runner.js';
import { resolvePolicyOptions } from '../../src/policy.js';
import { FIXTURES } from './helpers.js';

const CODE = codeOfFiles({ 'job.mjs': sha256Hex('a'), 'lib/helper.mjs': sha256Hex('b') });

test('Args are the same computation whatever the order of their keys, nested ones included.', (t) => {
  t.is(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: null } }), '{"a":{"c":null,"d":[1,{"e":3,"f":2}]},"b":1}');
  t.is(jobIdentity(CODE, { n: 1, steps: 2 }).args, jobIdentity(CODE, { steps: 2, n: 1 }).args);
  t.not(jobIdentity(CODE, { n: 1, steps: 2 }).args, jobIdentity(CODE, { n: 1, steps: 3 }).args);
  t.is(jobIdentity(CODE, 'x'.repeat(5000)).argsJson, null, 'long args are recorded by their hash only');
});

test('The same identity resumes silently.', (t) => {
  t.is(checkResume(jobIdentity(CODE, { n: 1 }), jobIdentity(CODE, { n: 1 }), false, 'image 3 of "job"'), null);
});

test('Other args are refused with IdentityMismatchError naming each arg that differs, even when code changes are allowed.', (t) => {
  const was = jobIdentity(CODE, { n: 1024, steps: 8000, label: 'a' });
  const now = jobIdentity(CODE, { n: 1024, steps: 4000, seed: 7 });
  for (const allow of [false, true]) {
    const err = t.throws(() => checkResume(was, now, allow, 'image 3 of "heat2d"'), { instanceOf: IdentityMismatchError });
    t.is(err?.code, 'CR_IDENTITY_MISMATCH');
    t.true(err?.argsDiffer);
    t.false(err?.codeDiffers);
    t.is(
      err?.message,
      'image 3 of "heat2d" was made by another computation: its args differ (label was "a", it is not given now, seed is 7 now, it was not given, steps was 8000, now 4000)',
    );
  }
  const long = t.throws(() => checkResume(jobIdentity(CODE, 'x'.repeat(5000)), now, false, 'image 3'), { instanceOf: IdentityMismatchError });
  t.regex(long?.message ?? '', /its args differ \(they are too long to show here\)$/);
});

test('Changed code is refused naming each file, unless allowed; then it resumes with a warning naming them.', (t) => {
  const was = jobIdentity(CODE, {});
  const now = jobIdentity(codeOfFiles({ 'job.mjs': sha256Hex('a'), 'lib/helper.mjs': sha256Hex('B'), 'lib/new.mjs': sha256Hex('c') }), {});
  const err = t.throws(() => checkResume(was, now, false, 'image 3 of "job"'), { instanceOf: IdentityMismatchError });
  t.is(err?.code, 'CR_IDENTITY_MISMATCH');
  t.true(err?.codeDiffers);
  t.is(err?.message, 'image 3 of "job" was made by another computation: its code changed (lib/helper.mjs changed, lib/new.mjs is new)');
  t.is(checkResume(was, now, true, 'image 3 of "job"'), 'resuming from image 3 of "job" with changed code (lib/helper.mjs changed, lib/new.mjs is new), as changed code is allowed');
  // A bundle (the cluster's code) has no files to name: its hashes are shown.
  const bundle = t.throws(() => checkResume(jobIdentity({ code: sha256Hex('x'), files: null }, {}), jobIdentity({ code: sha256Hex('y'), files: null }, {}), false, 'image 1'), {
    instanceOf: IdentityMismatchError,
  });
  t.regex(bundle?.message ?? '', /its code changed \(code sha256 [0-9a-f]{12}… then, [0-9a-f]{12}… now\)$/);
});

test('An image without an identity resumes, with a warning that it cannot be checked.', (t) => {
  t.regex(checkResume(null, jobIdentity(CODE, {}), false, 'image 3 of "job"') ?? '', /^image 3 of "job" records no job identity .*: its args and code cannot be checked; resuming from it$/);
});

function options(store: string, code: string, args: unknown): RunOptions {
  return {
    jobFile: path.join(FIXTURES, 'counter-job.mjs'),
    args,
    job: 'job-7',
    storeDir: store,
    keyFile: null,
    keepImages: 8,
    policy: resolvePolicyOptions({ intervalMs: 3_600_000, everyCalls: 10, mtbfMs: null }),
    fullEvery: 8,
    dirty: 'auto',
    retries: 0,
    retryDelayMs: 10,
    from: null,
    fresh: false,
    code: { code, files: null },
    recordFinished: false,
    level: 1,
    codec: 'auto',
    maxHeapMb: null,
  };
}

test('A runner given other code than its images were made with fails at restore with a non-retryable CR_IDENTITY_MISMATCH, as the agent does.', async (t) => {
  const store = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-identity-runner-'));
  t.teardown(() => fs.rmSync(store, { recursive: true, force: true }));
  const bundle = sha256Hex('the bundle that was submitted');
  const died = await new JobRunner(options(store, bundle, { steps: 200, throwAt: 155, throwAlways: true })).run();
  t.is(died.status, 'failed');
  const images = fs.readdirSync(path.join(store, 'job-7')).filter((n) => n.endsWith('.crimg'));
  t.true(images.length > 0);

  const started: unknown[] = [];
  const other = new JobRunner({ ...options(store, sha256Hex('another bundle'), { steps: 200, throwAt: 155, throwAlways: true }), retries: 3 });
  other.on((event) => {
    if (event.type === 'started') started.push(event);
  });
  const outcome = await other.run();
  if (outcome.status !== 'failed') return t.fail(`outcome ${outcome.status}`);
  t.is(outcome.error.code, 'CR_IDENTITY_MISMATCH');
  t.false(isRetryable(outcome.error));
  t.is(outcome.attempts, 0, 'refused before the job ran');
  t.regex(outcome.error.message, /^image \d+ of "job-7" was made by another computation: its code changed \(code sha256 [0-9a-f]{12}… then, [0-9a-f]{12}… now\)$/);
  t.deepEqual(started, []);
  t.deepEqual(fs.readdirSync(path.join(store, 'job-7')).filter((n) => n.endsWith('.crimg')), images, 'no image was written or removed');
  t.false(fs.existsSync(path.join(store, 'job-7', 'finished.json')), 'an agent records no finished run');
});
