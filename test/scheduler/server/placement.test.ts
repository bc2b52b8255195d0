import test from 'ava';
import { place } from '../../../scheduler/server/placement.js';

test('Jobs go in the order given to the node with the most free slots, ties by name.', (t) => {
  const free = new Map([
    ['b', 2],
    ['a', 2],
    ['c', 1],
  ]);
  t.deepEqual(place([{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }], free), [
    { job: 1, node: 'a' },
    { job: 2, node: 'b' },
    { job: 3, node: 'a' },
    { job: 4, node: 'b' },
  ]);
});

test('Placement stops when no slot is free, and ignores nodes without free slots.', (t) => {
  t.deepEqual(place([{ id: 1 }, { id: 2 }, { id: 3 }], new Map([['a', 1], ['b', 0]])), [{ job: 1, node: 'a' }]);
  t.deepEqual(place([{ id: 1 }], new Map()), []);
});
