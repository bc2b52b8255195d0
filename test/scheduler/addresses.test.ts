// --scheduler and CR_SCHEDULER: one address or several, comma-separated.
import test from 'ava';
import { parseSchedulerAddresses } from '../../scheduler/addresses.js';

test('--scheduler a:7070,b:7070 is read as distinct addresses in order; a list with a bad entry is refused naming it.', (t) => {
  t.deepEqual(parseSchedulerAddresses('a:7070, b:7070,a:7070,[::1]:7071'), ['a:7070', 'b:7070', '[::1]:7071']);
  t.is(t.throws(() => parseSchedulerAddresses(' , '), { instanceOf: TypeError })?.message, '--scheduler " , " names no scheduler: give host:port, or several as host:port,host:port');
  t.is(t.throws(() => parseSchedulerAddresses('a:7070,b'), { instanceOf: TypeError })?.message, '--scheduler: "b" is not host:port (several schedulers are given as host:port,host:port)');
});
