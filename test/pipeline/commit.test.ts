// The one commit path: what it commits, and the one error it fails with.
import fs from 'node:fs';
import test from 'ava';
import { CheckpointError, NoImageError } from '../../src/errors.js';
import { planImage } from '../../src/image/plan.js';
import { checkpointFailure, commitImage } from '../../src/pipeline/commit.js';
import { LocalStore } from '../../src/store/local-store.js';
import { codecs, header, KiB, makeWriter, noise, region, tempRoot } from '../image/helpers.js';

const tmp = tempRoot('commit');
test.after.always(() => tmp.cleanup());

test('A failure becomes one CheckpointError saying what failed and that the job goes on; a cr error stays as it is.', (t) => {
  const full = checkpointFailure(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }), 'job', 3);
  t.true(full instanceof CheckpointError);
  t.is(full.code, 'CR_CHECKPOINT_FAILED');
  t.is(full.message, 'checkpoint job-00000003 of job "job" failed: the disk is full (ENOSPC); the previous image stays the latest and the job goes on');
  t.is(checkpointFailure(new Error('lock'), 'job', null).message, 'a checkpoint of job "job" failed: lock; the previous image stays the latest and the job goes on');
  const own = new NoImageError('none');
  t.is(checkpointFailure(own, 'job', 1), own);
});

test('An image is committed as planned, and a section whose copy-on-write copy was cancelled fails the commit with CheckpointError, leaving nothing.', async (t) => {
  const { main } = await codecs();
  const store = LocalStore.open({ dir: tmp.dir('store') });
  const writer = makeWriter({ codec: main, key: store.key, blockSize: 4 * KiB });
  const sections = [region('grid', 'Uint8Array', noise(16 * KiB))];
  const plan = planImage(sections, { previous: null, blockSize: writer.blockSize });
  const image = await commitImage(store, writer, { header: header('job', 1), sections, plan }, { direct: false, warnings: null });
  t.is(image.file, store.imageFile('job', 1));
  t.is(image.manifest.sequence, 1);
  t.deepEqual(image.warnings, []);

  const ready = new Int32Array(new SharedArrayBuffer(4));
  Atomics.store(ready, 0, -1);
  const staged = [{ ...sections[0]!, staged: { memory: new Uint8Array(16 * KiB), length: 16 * KiB, slots: new Float64Array(4), ready, copied: null } }];
  const failed = await t.throwsAsync(commitImage(store, writer, { header: header('job', 2), sections: staged, plan }, { direct: false, warnings: null }), { instanceOf: CheckpointError });
  t.is(failed?.code, 'CR_CHECKPOINT_FAILED');
  t.regex(failed?.message ?? '', /checkpoint job-00000002 of job "job" failed: the copy-on-write copy of region "grid" was cancelled/);
  t.false(fs.existsSync(store.imageFile('job', 2)));
});
