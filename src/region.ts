// Region memory: page-aligned, outside the JS heap, from the native addon (mmap); a plain
// ArrayBuffer when the addon is unavailable. Regions are allocated in the thread that uses
// them: an external ArrayBuffer in a transferList is silently copied by Node 20.
import type { RegionArray, RegionConstructor } from './image/format.js';
import { loadNative } from './native/binding.js';

export interface RegionMemory {
  readonly array: RegionArray;
  /** The same memory as bytes. */
  readonly bytes: Uint8Array;
  readonly native: boolean;
  /** Unmaps the memory now (native) and detaches the array. Idempotent. */
  free(): void;
  /**
   * For memory the job never saw: gives its pages back now, without detaching anything (a
   * detach in the job's thread would make V8 check its typed-array code for detachment from
   * then on); the mapping goes with the garbage collector. Nothing may read it after.
   */
  discard(): void;
}

const HUGE_PAGE_BYTES = 2 * 1024 * 1024;

export function allocateRegion(name: string, Ctor: RegionConstructor, length: number): RegionMemory {
  if (!Number.isSafeInteger(length) || length <= 0) {
    throw new RangeError(`region ${JSON.stringify(name)}: length must be a positive whole number of elements, got ${String(length)}`);
  }
  const byteLength = length * Ctor.BYTES_PER_ELEMENT;
  const { binding } = loadNative();
  if (binding) {
    let buffer: ArrayBuffer;
    try {
      // Transparent huge pages: a region is the job's dense working memory, and on this kind of
      // virtual machine first touch (the whole cost of a restore into new memory) runs ~1.7x
      // faster with them. Dirty tracking still reports 4 KiB pages (test/capture/dirty.test.ts).
      buffer = binding.allocRegion(byteLength, byteLength >= HUGE_PAGE_BYTES);
    } catch (err) {
      throw new RangeError(`region ${JSON.stringify(name)}: cannot allocate ${byteLength} bytes: ${(err as Error).message}`);
    }
    let freed = false;
    return {
      array: new Ctor(buffer, 0, length),
      bytes: new Uint8Array(buffer, 0, byteLength),
      native: true,
      free() {
        if (freed) return;
        freed = true;
        binding.freeRegion(buffer);
      },
      discard() {
        if (freed) return;
        freed = true;
        binding.discardRegion(buffer);
      },
    };
  }
  const buffer = new ArrayBuffer(byteLength);
  return {
    array: new Ctor(buffer, 0, length),
    bytes: new Uint8Array(buffer),
    native: false,
    free() {
      // A plain ArrayBuffer is released by the garbage collector once the job drops it.
    },
    discard() {
      // The same.
    },
  };
}
