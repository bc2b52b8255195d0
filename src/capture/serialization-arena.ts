// The memory a checkpointer's states are serialized into (state-serializer.ts, with the addon):
// kept from one checkpoint to the next, because v8.serialize's fresh buffer costs a page fault per
// 4 KiB of stream every time (docs/incremental.md, "Staging").
import { loadNative, type NativeBinding } from '../native/binding.js';

const MiB = 1024 * 1024;
/** An arena is never grown past this: a larger stream goes to fresh memory each time, as v8.serialize's does. */
const MAX_ARENA_BYTES = 1024 * MiB;

/** The reference of the view being written, filled for the addon (one for all arenas: a call fills it and the addon reads it at once). */
const REFERENCE = new Float64Array(4);

/**
 * Memory one checkpointer's states are serialized into, reused from one checkpoint to the next:
 * its pages stay mapped, so the serializer writes without faulting them in. Sized from what the
 * last capture needed (a capture that outgrows it writes the rest to fresh memory and grows it
 * for the next one). A capture's streams are views of it, valid until the next `begin()`.
 */
export class SerializationArena {
  #memory = new Uint8Array(0);
  #used = 0;
  /** Bytes of this capture's streams so far, wherever they went. */
  #needed = 0;

  /** Starts a capture: the last capture's streams are no longer read. */
  begin(): void {
    this.#used = 0;
    this.#needed = 0;
  }

  /** The arena's memory, bytes. */
  get capacity(): number {
    return this.#memory.length;
  }

  /**
   * Ends a capture: new memory for the next one when this one's did not fit, or when it used
   * under a quarter of it (the states shrank: the rest would be held for nothing).
   */
  end(): void {
    const capacity = this.#memory.length;
    const fits = this.#needed <= capacity;
    if ((fits && this.#needed * 4 >= capacity) || this.#needed > MAX_ARENA_BYTES) return;
    const bytes = Math.min(MAX_ARENA_BYTES, Math.ceil((this.#needed * 1.25) / MiB) * MiB);
    if (bytes === capacity) return;
    this.#memory = new Uint8Array(bytes);
    // Before its first touch: huge pages, where the kernel gives them on request.
    loadNative().binding?.adviseHugePages(this.#memory);
  }

  /**
   * Serializes `value` at the arena's next free byte, `reference` giving each view's four numbers
   * (see NativeBinding.serializeValue); null when V8 refuses it.
   */
  serialize(native: NativeBinding, value: unknown, reference: (object: object, out: Float64Array) => void): Uint8Array | null {
    const start = this.#used;
    const memory = this.#memory;
    const result = native.serializeValue(value, memory, start, (object) => reference(object, REFERENCE), REFERENCE);
    if (result === null) return null;
    if (typeof result === 'number') {
      this.#used = result;
      this.#needed += result - start;
      return memory.subarray(start, result);
    }
    // It did not fit: the stream is in memory of its own, and the next capture needs more.
    this.#needed += result.byteLength;
    return new Uint8Array(result);
  }
}
