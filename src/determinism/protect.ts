// Memory the job already owns, registered with `cr.protect(name, memory)`: an ArrayBuffer, a
// typed array or DataView, or a WebAssembly.Memory (the whole linear memory of a compiled
// kernel). Each is captured as a region section named "cr:protect:<name>", so the writer, the
// staging, incremental images and the reader treat it exactly like a region; on restart it is
// restored in place, into the job's own memory, after a WebAssembly memory was grown to the
// size it had at the checkpoint.
import type { RegisteredRegion } from '../capture/capture.js';
import { RegionMismatchError } from '../errors.js';
import { REGION_TYPES, type RegionTypeName } from '../image/format.js';
import type { RegionMemory } from '../region.js';
import type { RestoredImage } from '../restore.js';

/**
 * The part of `WebAssembly.Memory` cr uses (the project compiles without the DOM typings, which
 * declare the rest).
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(deltaPages: number): number;
}
const WasmMemoryClass = (globalThis as unknown as { WebAssembly: { Memory: abstract new (...args: never[]) => WasmMemory } }).WebAssembly.Memory;

/** What `cr.protect()` takes. */
export type ProtectedMemory = ArrayBuffer | ArrayBufferView | WasmMemory;

export const PROTECT_PREFIX = 'cr:protect:';
const WASM_PAGE_BYTES = 65536;

interface Protected {
  memory: ProtectedMemory;
  type: RegionTypeName;
  elementSize: number;
}

export class ProtectRegistry {
  readonly #entries = new Map<string, Protected>();

  get size(): number {
    return this.#entries.size;
  }

  /** Registers `memory` under `name` and, when `restored` holds it, restores its contents in place. */
  protect<M extends ProtectedMemory>(name: string, memory: M, restored: RestoredImage | null): M {
    if (this.#entries.has(name)) throw new TypeError(`protect(name, memory): ${JSON.stringify(name)} is already protected`);
    for (const entry of this.#entries.values()) {
      if (entry.memory === memory) throw new TypeError(`protect(name, memory): that memory is already protected under another name`);
    }
    const { type, elementSize } = describe(memory);
    const section = PROTECT_PREFIX + name;
    const shape = restored?.regionShape(section) ?? null;
    if (restored && shape) {
      if (memory instanceof WasmMemoryClass) growTo(name, memory, shape.bytes);
      const bytes = bytesOf(memory);
      if (shape.type !== type || shape.bytes !== bytes.length) {
        throw new RegionMismatchError(
          `protected memory ${JSON.stringify(name)} was checkpointed as ${shape.type} of ${shape.bytes} bytes but the job now protects ` +
            `${type} of ${bytes.length} bytes: protect the same memory as when the image was taken`,
        );
      }
      restored.restoreRegion(section, type, bytes.length / elementSize, { bytes } as RegionMemory);
    }
    this.#entries.set(name, { memory, type, elementSize });
    return memory;
  }

  /**
   * The protected memories as regions, for one capture. Views are made anew each time: a
   * WebAssembly memory's ArrayBuffer is replaced (and the old one detached) whenever it grows.
   */
  regions(): [string, RegisteredRegion][] {
    const out: [string, RegisteredRegion][] = [];
    for (const [name, entry] of this.#entries) {
      const bytes = bytesOf(entry.memory);
      const memory = { array: bytes, bytes, native: false, free: () => undefined } as RegionMemory;
      out.push([PROTECT_PREFIX + name, { type: entry.type, elementSize: entry.elementSize, memory, tracker: null }]);
    }
    return out;
  }
}

function describe(memory: unknown): { type: RegionTypeName; elementSize: number } {
  if (memory instanceof WasmMemoryClass) {
    if (memory.buffer instanceof SharedArrayBuffer) throw new TypeError('protect(name, memory): a shared WebAssembly.Memory cannot be protected');
    return { type: 'Uint8Array', elementSize: 1 };
  }
  if (memory instanceof ArrayBuffer) return { type: 'Uint8Array', elementSize: 1 };
  if (ArrayBuffer.isView(memory)) {
    if (memory.buffer instanceof SharedArrayBuffer) throw new TypeError('protect(name, memory): memory over a SharedArrayBuffer cannot be protected');
    if (memory instanceof DataView) return { type: 'Uint8Array', elementSize: 1 };
    for (const [name, Ctor] of Object.entries(REGION_TYPES)) {
      if (memory instanceof Ctor) return { type: name as RegionTypeName, elementSize: Ctor.BYTES_PER_ELEMENT };
    }
  }
  throw new TypeError('protect(name, memory): memory must be an ArrayBuffer, a typed array, a DataView or a WebAssembly.Memory');
}

function bytesOf(memory: ProtectedMemory): Uint8Array {
  if (memory instanceof WasmMemoryClass) return new Uint8Array(memory.buffer);
  if (memory instanceof ArrayBuffer) return new Uint8Array(memory);
  return new Uint8Array(memory.buffer, memory.byteOffset, memory.byteLength);
}

/** Grows a WebAssembly memory to the size it had at the checkpoint (it cannot shrink). */
function growTo(name: string, memory: WasmMemory, bytes: number): void {
  const have = memory.buffer.byteLength;
  if (bytes % WASM_PAGE_BYTES !== 0 || bytes < have) return; // reported as a mismatch by the caller
  if (bytes === have) return;
  try {
    memory.grow((bytes - have) / WASM_PAGE_BYTES);
  } catch (err) {
    throw new RegionMismatchError(
      `protected memory ${JSON.stringify(name)} was checkpointed at ${bytes} bytes, but this WebAssembly.Memory cannot grow from ${have} to that (${(err as Error).message})`,
    );
  }
}
