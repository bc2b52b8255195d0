// One error shape crosses threads: toErrorRecord makes it, fromErrorRecord gives back the error.
import test from 'ava';
import { CheckpointError, CrError, fromErrorRecord, ImageCorruptError, RegionMismatchError, toErrorRecord } from '../src/errors.js';

test('cr errors that a message rebuilds come back as their own class, with code, message and the stack where they were thrown.', (t) => {
  for (const err of [new CheckpointError('checkpoint job-00000002 of job "job" failed: the disk is full (ENOSPC)'), new RegionMismatchError('region "grid" is another shape')]) {
    const back = fromErrorRecord(structuredClone(toErrorRecord(err)));
    t.true(back instanceof err.constructor);
    t.is((back as CrError).code, err.code);
    t.is(back.message, err.message);
    t.is(back.name, err.name);
    t.is(back.stack, err.stack);
  }
});

test('Other cr errors come back as a CrError with their code and name; TypeError and RangeError as themselves; anything else as an Error with its code.', (t) => {
  const corrupt = fromErrorRecord(toErrorRecord(new ImageCorruptError('block', 'block 3 does not match its hash', '/x/00000003.crimg')));
  t.true(corrupt instanceof CrError);
  t.is((corrupt as CrError).code, 'CR_IMAGE_CORRUPT');
  t.is(corrupt.name, 'ImageCorruptError');
  t.true(fromErrorRecord(toErrorRecord(new RangeError('n must be positive'))) instanceof RangeError);
  t.true(fromErrorRecord(toErrorRecord(new TypeError('not a name'))) instanceof TypeError);
  const io = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  const back = fromErrorRecord(toErrorRecord(io));
  t.false(back instanceof CrError);
  t.is((back as Error & { code: string }).code, 'ENOSPC');
  t.is(fromErrorRecord(toErrorRecord('a string')).message, 'non-error thrown: a string');
});
