// Copy-on-write rounds straight on the addon, shared by the main-thread and Worker tests
// (cow.test.ts): fill a region, then again and again take a snapshot copy at the safe point,
// capture, flush into staging while the thread keeps writing random pages (and the kernel writes
// some with read(2)), and compare what the flush saved with the snapshot.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NativeBinding } from '../../src/native/binding.js';
import { xorshift } from '../capture/helpers.js';

export interface CowRoundsOptions {
  rounds: number;
  bytes: number;
  blockSize: number;
  seed: number;
}

export interface CowRoundsResult {
  /** Blocks whose saved copy differs from the snapshot at the safe point. */
  mismatches: number;
  /**
   * Blocks a capture reported wrongly: not reported although the thread wrote them since the last
   * one, or reported written (1) although it did not ("maybe", 2, is allowed either way).
   */
  wrongWritten: number;
  /** Blocks reported "maybe written" (a sequential writer let in ahead). */
  maybe: number;
  /** Writes made while a flush was running, over all rounds. */
  writesDuringFlush: number;
  faultCopies: number;
  flushBlocks: number;
}

export function cowRounds(b: NativeBinding, o: CowRoundsOptions): CowRoundsResult {
  const rand = xorshift(o.seed);
  const page = b.pageSize;
  const ab = b.allocRegion(o.bytes, true);
  const u8 = new Uint8Array(ab);
  for (let i = 0; i < u8.length; i += 61) u8[i] = rand(256);
  const blocks = Math.ceil(o.bytes / o.blockSize);
  const staging = new Uint8Array(new SharedArrayBuffer(o.bytes));
  staging.fill(1);
  const ready = new Int32Array(new SharedArrayBuffer(4));
  const pending = new Uint8Array(blocks);
  const written = new Uint8Array(blocks);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cr-cow-')), 'bytes');
  fs.writeFileSync(file, Buffer.alloc(3 * page, 0xab));
  const fd = fs.openSync(file, 'r');
  const result: CowRoundsResult = { mismatches: 0, wrongWritten: 0, maybe: 0, writesDuringFlush: 0, faultCopies: 0, flushBlocks: 0 };
  const write = (at: number): void => {
    u8[at] = (u8[at]! + 1 + rand(255)) & 0xff;
    written[Math.floor(at / o.blockSize)] = 1;
  };
  try {
    for (let r = 0; r <= o.rounds; r++) {
      // Between safe points: a few random pages.
      for (let i = rand(64); i > 0; i--) write(rand(o.bytes));
      const snapshot = u8.slice();
      pending.fill(0);
      b.cowCapture(ab, o.blockSize, pending);
      if (r > 0) {
        for (let i = 0; i < blocks; i++) {
          if ((written[i] === 1 && pending[i] === 0) || (pending[i] === 1 && written[i] === 0)) result.wrongWritten++;
          if (pending[i] === 2) result.maybe++;
        }
      }
      written.fill(0);
      if (r === o.rounds) break;
      // Some rounds save every block, others a random half (the others are unchanged ones).
      const slots = new Float64Array(blocks).fill(-1);
      const all = rand(2) === 0;
      for (let i = 0; i < blocks; i++) if (all || rand(2) === 0) slots[i] = i * o.blockSize;
      staging.fill(1);
      b.cowFlush(ab, staging, slots, ready);
      // The thread goes on writing while the flush runs: random pages, a sweep from a random
      // block, and now and then the kernel (read(2) into the region).
      let during = 0;
      const sweepFrom = rand(blocks) * o.blockSize;
      for (let i = 0; Atomics.load(ready, 0) === 0 || i < 200; i++) {
        write(rand(o.bytes));
        const at = sweepFrom + ((i * page) % (o.bytes - sweepFrom));
        write(at);
        if (i % 97 === 0) {
          const at = rand(Math.floor(o.bytes / page) - 1) * page;
          if (at + 2 * page <= o.bytes) {
            fs.readSync(fd, u8, at + 100, page, 0);
            written[Math.floor((at + 100) / o.blockSize)] = 1;
            written[Math.floor((at + 100 + page - 1) / o.blockSize)] = 1;
          }
        }
        if (Atomics.load(ready, 0) === 0) during++;
      }
      result.writesDuringFlush += during;
      if (Atomics.load(ready, 0) !== 1) throw new Error(`flush ended with ${Atomics.load(ready, 0)}`);
      const stats = b.cowStats(ab)!;
      result.faultCopies += stats.faultCopies;
      result.flushBlocks += stats.flushBlocks;
      for (let i = 0; i < blocks; i++) {
        if (slots[i]! < 0) continue;
        const from = i * o.blockSize;
        const to = Math.min(o.bytes, from + o.blockSize);
        if (Buffer.compare(staging.subarray(from, to), snapshot.subarray(from, to)) !== 0) result.mismatches++;
      }
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    b.freeRegion(ab);
  }
  return result;
}
