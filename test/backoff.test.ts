import test from 'ava';
import { Backoff, backoff } from '../src/backoff.js';

test('A backoff doubles its first wait after each failure, up to its ceiling.', (t) => {
  t.deepEqual([0, 1, 2, 3, 4, 5].map((n) => backoff(1000, 30_000, n)), [1000, 2000, 4000, 8000, 16_000, 30_000]);
  t.is(backoff(1000, 30_000, 5000), 30_000, 'however many failures');
  t.is(backoff(0, 30_000, 5000), 0, 'a first wait of 0 stays 0 (--retry-delay 0)');
});

test('A running Backoff counts failures until reset, and follows a ceiling changed between waits.', (t) => {
  const delays = new Backoff(200, 1000);
  t.deepEqual([delays.next(), delays.next(), delays.next(), delays.next()], [200, 400, 800, 1000]);
  delays.reset();
  t.is(delays.next(), 200);
  delays.max = 300;
  t.is(delays.next(), 300);
});
