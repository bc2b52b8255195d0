// The one set of registration rules, for a job's cr and a team member's: names, region types and
// lengths, and names of the longest length surviving a restart under every prefix cr adds.
import test from 'ava';
import { checkLength, checkName, checkRegion, MAX_NAME_LENGTH, StateRegistry } from '../../src/capture/registration.js';
import { attempt, tempDir } from '../job/harness.js';

test('A name is a non-empty string of at most 256 characters, whoever registers it.', (t) => {
  t.is(MAX_NAME_LENGTH, 256);
  t.notThrows(() => checkName('state', 'x'.repeat(256)));
  for (const bad of ['', 'x'.repeat(257), 42, null]) {
    t.throws(() => checkName('state', bad), { instanceOf: TypeError, message: 'state name must be a non-empty string of at most 256 characters' });
  }
});

test('A region is refused for a reserved or taken name, a type that is not a typed array, or a length that is not a positive whole number.', (t) => {
  const taken = (name: string): boolean => name === 'grid';
  t.is(checkRegion('field', Float32Array, 10, taken), 'Float32Array');
  t.throws(() => checkRegion('cr:x', Float64Array, 1, taken), { instanceOf: TypeError, message: /names starting with "cr:" are reserved for cr/ });
  t.throws(() => checkRegion('grid', Float64Array, 1, taken), { instanceOf: TypeError, message: 'region "grid" is already registered' });
  t.throws(() => checkRegion('a', Array, 1, taken), { instanceOf: TypeError, message: /region type must be a typed-array constructor/ });
  t.throws(() => checkRegion('b', Float64Array, 0, taken), { instanceOf: RangeError, message: 'region "b": length must be a positive whole number of elements, got 0' });
  t.throws(() => checkLength('shared', 'c', 1.5), { instanceOf: RangeError, message: 'shared "c": length must be a positive whole number of elements, got 1.5' });
});

test('A state is registered once, must be an object, and comes back from the image it was restored from.', (t) => {
  const registry = new StateRegistry((name) => (name === 'progress' ? { step: 7 } : undefined));
  t.deepEqual(registry.register('progress', { step: 0 }), { step: 7 });
  const fresh = { step: 0 };
  t.is(registry.register('other', fresh), fresh);
  t.throws(() => registry.register('other', {}), { instanceOf: TypeError, message: 'state "other" is already registered' });
  t.throws(() => registry.register('n', 3), { instanceOf: TypeError, message: /must be an object, array, Map, Set or typed array/ });
  t.throws(() => registry.register('cr:clock', {}), { instanceOf: TypeError, message: /reserved for cr/ });
  t.deepEqual([...registry.states.keys()], ['progress', 'other']);
});

test('A name cr stores behind a prefix is shorter by the prefix: the image holds section names of at most 256 characters.', (t) => {
  t.notThrows(() => checkName('protect', 'p'.repeat(245), 'cr:protect:'));
  t.throws(() => checkName('protect', 'p'.repeat(246), 'cr:protect:'), { instanceOf: TypeError, message: 'protect name must be a non-empty string of at most 245 characters' });
  const member = new StateRegistry(() => undefined, 'cr:team:12:');
  t.throws(() => member.register('s'.repeat(246), {}), { instanceOf: TypeError, message: 'state name must be a non-empty string of at most 245 characters' });
  t.throws(() => checkRegion('r'.repeat(246), Float64Array, 1, () => false, 'cr:team:12:'), { instanceOf: TypeError, message: /at most 245 characters/ });
});

test('Names of the longest length are restored, with and without a prefix (a state, a region, a protected buffer).', async (t) => {
  const dir = tempDir(t, 'registration');
  const name = 'n'.repeat(MAX_NAME_LENGTH);
  const protectedName = 'p'.repeat(MAX_NAME_LENGTH - 'cr:protect:'.length);
  const first = await attempt(dir, false);
  first.context.state(name, { value: 41 });
  first.context.region(name, Float64Array, 16).fill(2.5);
  const buffer = new Uint8Array(100).fill(9);
  t.throws(() => first.context.protect(name, buffer), { instanceOf: TypeError, message: /at most 245 characters/ });
  first.context.protect(protectedName, buffer);
  const info = await first.context.checkpoint({ force: true, durable: true });
  t.truthy(info);
  await first.context.close();

  const second = await attempt(dir, true);
  t.deepEqual(second.context.state(name, { value: 0 }), { value: 41 });
  t.true(second.context.region(name, Float64Array, 16).every((x) => x === 2.5));
  const restored = new Uint8Array(100);
  second.context.protect(protectedName, restored);
  t.true(restored.every((x) => x === 9));
  t.deepEqual(second.warnings, []);
  await second.context.close();
});
