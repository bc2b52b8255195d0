// Helpers shared by the capture tests (and the addon's copy-on-write rounds).
import fs from 'node:fs';
import type { Manifest } from '../../src/image/format.js';
import type { LocalStore } from '../../src/store/local-store.js';

/** The blocks of every image of job "job": where each one's bytes are and what they hash to. */
export function layout(store: LocalStore): Manifest['sections'][] {
  return store.list('job').map((entry) => {
    const bytes = fs.readFileSync(entry.file);
    const offset = Number(bytes.readBigUInt64LE(bytes.length - 64));
    const manifest = JSON.parse(bytes.subarray(offset, bytes.length - 64).toString('utf8')) as Manifest;
    // cr's own clock ("cr:clock") holds the time the run took, which differs between runs.
    return manifest.sections.filter((section) => section.name !== 'cr:clock');
  });
}

/** A deterministic generator of whole numbers in [0, n). */
export function xorshift(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}
