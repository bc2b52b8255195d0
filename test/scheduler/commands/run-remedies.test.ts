// What `cr-scheduler run` adds to the library's errors (scheduler/commands/run-remedies.ts): the
// library's messages name no flag of run's; run names the flag that is the way out, by code.
// test/runner/fallback.test.ts checks the whole line a real run prints.
import test from 'ava';
import { withRunRemedy } from '../../../scheduler/commands/run-remedies.js';

test('A store with no image that verifies (CR_NO_IMAGE) is answered with --fresh and --from.', (t) => {
  const message = withRunRemedy('CR_NO_IMAGE', 'none of the 2 images of job "job" in /s/job verifies (newest: damaged)');
  t.regex(message, /--fresh/);
  t.is(message, 'none of the 2 images of job "job" in /s/job verifies (newest: damaged); start over with --fresh, or give an image with --from');
});

test('A region that does not fit the image, and a locked store, get the flag that is their way out; other codes get nothing.', (t) => {
  t.is(withRunRemedy('CR_REGION_MISMATCH', 'region "g" differs: register regions as they were'), 'region "g" differs: register regions as they were, or start over with --fresh');
  t.is(withRunRemedy('CR_STORE_LOCKED', 'job "j" is already running in process 7: stop that run first'), 'job "j" is already running in process 7: stop that run first; or run it under another --name or --store');
  t.is(withRunRemedy('CR_IMAGE_CORRUPT', 'damaged'), 'damaged');
  t.is(withRunRemedy(null, 'plain'), 'plain');
});

test('A team of another size (CR_REGION_MISMATCH from src/team/) is told the library remedy, then the --fresh of run, once.', (t) => {
  const message = 'the image holds a team member of rank 3, but this attempt starts a team of 2: start the same team';
  t.is(withRunRemedy('CR_REGION_MISMATCH', message), `${message}, or start over with --fresh`);
});
