// How the cluster commands find their credentials on the scheduler's machine: --data, then
// CR_DATA, then ./.cr-scheduler; without a token they say where they looked.
import path from 'node:path';
import test from 'ava';
import { runCli, show, STACK_FRAME, tempDir } from '../../runner/helpers.js';
import { startScheduler } from '../helpers.js';

test('A command finds the admin token through --data or CR_DATA, and without one says where it looked.', async (t) => {
  const scheduler = await startScheduler(t);
  const viaFlag = await runCli(t, ['list', '--scheduler', scheduler.address, '--data', scheduler.dataDir]);
  t.is(viaFlag.code, 0, show(viaFlag));
  const viaEnv = await runCli(t, ['list', '--scheduler', scheduler.address], { CR_DATA: scheduler.dataDir });
  t.is(viaEnv.code, 0, show(viaEnv));

  const elsewhere = tempDir(t, 'no-data');
  const none = await runCli(t, ['list', '--scheduler', scheduler.address, '--data', elsewhere]);
  t.is(none.code, 1, show(none));
  t.regex(none.stderr, /^cr-scheduler: not authenticated: no credentials: /);
  t.true(
    none.stderr.endsWith(
      `Looked for a token in --token, CR_TOKEN, --token-file, CR_TOKEN_FILE and ${path.join(elsewhere, 'admin.token')} (none there); on the scheduler's machine, give its data directory with --data or CR_DATA\n`,
    ),
    none.stderr,
  );
  t.notRegex(none.stderr, STACK_FRAME);
});
