// Serializes a registered state with v8's Serializer, except that array-buffer views are host
// objects: each ArrayBuffer behind them becomes a raw `buffer` section of the image (written once,
// shuffled and compressed like a region), and the v8 stream keeps only a small reference. Large
// arrays thus bypass the serializer, and views sharing a buffer still share it after restore.
//
// With the addon, a checkpointer's states are serialized by the same V8 serializer into its
// SerializationArena, memory kept from one checkpoint to the next: v8.serialize's fresh buffer
// costs a page fault per 4 KiB of stream, every time. Both paths write the same bytes.
import v8 from 'node:v8';
import { ImageCorruptError, StateCaptureError } from '../errors.js';
import { VIEW_TYPES } from '../image/format.js';
import { loadNative } from '../native/binding.js';
import type { SerializationArena } from './serialization-arena.js';

export interface SerializedState {
  v8: Uint8Array;
  buffers: { data: Uint8Array; elementSize: number }[];
}

const TWO_32 = 2 ** 32;

/** A built-in accessor, called on the view itself: a property the view or its class overrides is not asked. */
function builtInGetter(proto: object, name: string | symbol): (this: unknown) => unknown {
  return Object.getOwnPropertyDescriptor(proto, name)!.get!;
}
const TYPED_ARRAY = Object.getPrototypeOf(Uint8Array.prototype) as object;
/** The built-in type's name for a typed array, undefined for a DataView. */
const TYPE_NAME = builtInGetter(TYPED_ARRAY, Symbol.toStringTag);
const TYPED = { buffer: builtInGetter(TYPED_ARRAY, 'buffer'), byteOffset: builtInGetter(TYPED_ARRAY, 'byteOffset'), length: builtInGetter(TYPED_ARRAY, 'length') };
const DATA_VIEW = { buffer: builtInGetter(DataView.prototype, 'buffer'), byteOffset: builtInGetter(DataView.prototype, 'byteOffset'), length: builtInGetter(DataView.prototype, 'byteLength') };
/** VIEW_TYPES' codes by the built-in type's name: a subclass (Node's Buffer too) is stored as its built-in type. */
const TYPE_CODES = new Map(VIEW_TYPES.flatMap((type, code) => (type === null ? [] : [[type.name, code] as const])));
const DATA_VIEW_CODE = TYPE_CODES.get('DataView')!;

/** The buffer sections of one state, and the reference the stream keeps for each view into them. */
class ViewReferences {
  readonly buffers: ArrayBuffer[] = [];
  readonly elementSizes: number[] = [];
  readonly #index = new Map<ArrayBuffer, number>();

  /**
   * Sets `out` to [buffer index, type code, byte offset, length] of view `object`; throws for any
   * other host object. Read through the built-in accessors, whatever the view or its class says.
   */
  reference(object: object, out: Float64Array): void {
    if (!ArrayBuffer.isView(object)) throw new Error('host object');
    const name = TYPE_NAME.call(object) as string | undefined;
    const get = name === undefined ? DATA_VIEW : TYPED;
    if (Buffer.isBuffer(object)) {
      // A small Node Buffer is a view of a pool shared by unrelated Buffers of the process:
      // store only its own bytes, never the pool.
      this.buffers.push(new Uint8Array(object).buffer);
      this.elementSizes.push(1);
      out[0] = this.buffers.length - 1;
      out[1] = TYPE_CODES.get('Uint8Array')!;
      out[2] = 0;
      out[3] = get.length.call(object) as number;
      return;
    }
    const buffer = get.buffer.call(object);
    if (!(buffer instanceof ArrayBuffer)) throw new Error('shared memory');
    const code = name === undefined ? DATA_VIEW_CODE : TYPE_CODES.get(name);
    if (code === undefined) throw new Error('unknown view type');
    let index = this.#index.get(buffer);
    if (index === undefined) {
      index = this.buffers.length;
      this.buffers.push(buffer);
      this.elementSizes.push(elementSizeOf(code));
      this.#index.set(buffer, index);
    }
    out[0] = index;
    out[1] = code;
    out[2] = get.byteOffset.call(object) as number;
    out[3] = get.length.call(object) as number;
  }

  sections(): SerializedState['buffers'] {
    return this.buffers.map((b, i) => ({ data: new Uint8Array(b), elementSize: this.elementSizes[i]! }));
  }
}

class StateSerializer extends v8.Serializer {
  readonly views = new ViewReferences();
  readonly #reference = new Float64Array(4);

  constructor() {
    super();
    // Not in @types/node, but part of Node's documented v8.Serializer API.
    (this as unknown as { _setTreatArrayBufferViewsAsHostObjects(flag: boolean): void })._setTreatArrayBufferViewsAsHostObjects(true);
  }

  _writeHostObject(object: object): void {
    const r = this.#reference;
    this.views.reference(object, r);
    this.writeUint32(r[0]!);
    this.writeUint32(r[1]!);
    this.writeUint64(Math.floor(r[2]! / TWO_32), r[2]! % TWO_32);
    this.writeUint64(Math.floor(r[3]! / TWO_32), r[3]! % TWO_32);
  }
}

/** WebAssembly.Module (not in this project's TypeScript lib). */
const WASM_MODULE = (globalThis as unknown as { WebAssembly: { Module: abstract new (...args: never[]) => object } }).WebAssembly.Module;

/**
 * Serializes one state, into `arena` when given and the addon is loaded. Throws
 * StateCaptureError naming where an uncapturable value sits.
 */
export function serializeState(name: string, value: unknown, arena: SerializationArena | null = null): SerializedState {
  const native = loadNative().binding;
  let refused = false;
  if (arena !== null && native !== null) {
    const views = new ViewReferences();
    const bytes = arena.serialize(native, value, (object, out) => views.reference(object, out));
    if (bytes !== null) return { v8: bytes, buffers: views.sections() };
    // Refused: the JS path below fails the same way, and says where.
    refused = true;
  }
  const where = `state ${JSON.stringify(name)}`;
  const serializer = new StateSerializer();
  try {
    serializer.writeHeader();
    serializer.writeValue(value);
  } catch (err) {
    const found = findUncapturable(value, where);
    if (found) throw new StateCaptureError(found.path, found.what);
    throw new StateCaptureError(where, `not serializable (${(err as Error).message})`);
  }
  if (refused) {
    // Refused natively, yet Node's serializer took it: either something Node's writes no readable
    // stream for (a WebAssembly.Module), or the native call ran out of memory and this one did not.
    const found = findUncapturable(value, where);
    if (found) throw new StateCaptureError(found.path, found.what);
  }
  return { v8: serializer.releaseBuffer(), buffers: serializer.views.sections() };
}

class StateDeserializer extends v8.Deserializer {
  readonly #buffers: ArrayBuffer[];
  constructor(data: Uint8Array, buffers: ArrayBuffer[]) {
    super(data);
    this.#buffers = buffers;
  }

  _readHostObject(): unknown {
    const index = this.readUint32();
    const type = this.readUint32();
    const [offHi, offLo] = this.readUint64();
    const [lenHi, lenLo] = this.readUint64();
    const byteOffset = offHi * TWO_32 + offLo;
    const length = lenHi * TWO_32 + lenLo;
    const buffer = this.#buffers[index];
    const Ctor = VIEW_TYPES[type];
    if (!buffer || !Ctor) throw new Error(`bad view reference (buffer ${index}, type ${type})`);
    if (Ctor === DataView) {
      if (byteOffset + length > buffer.byteLength) throw new Error('view out of range');
      return new DataView(buffer, byteOffset, length);
    }
    const Typed = Ctor as typeof Uint8Array;
    const bpe = Typed.BYTES_PER_ELEMENT;
    if (byteOffset % bpe !== 0 || byteOffset + length * bpe > buffer.byteLength) throw new Error('view out of range');
    return new Typed(buffer, byteOffset, length);
  }
}

/** Rebuilds a state from its v8 bytes and its buffers (each becomes a fresh ArrayBuffer). */
export function deserializeState(name: string, v8Bytes: Uint8Array, buffers: Uint8Array[], file: string | null): unknown {
  const owned = buffers.map((b) => {
    const copy = new ArrayBuffer(b.length);
    new Uint8Array(copy).set(b);
    return copy;
  });
  try {
    const deserializer = new StateDeserializer(v8Bytes, owned);
    deserializer.readHeader();
    return deserializer.readValue();
  } catch (err) {
    throw new ImageCorruptError('manifest', `state ${JSON.stringify(name)} cannot be deserialized: ${(err as Error).message}`, file);
  }
}

/** The element size a buffer section is shuffled by: its first view's type's, 1 for a DataView or bytes. */
function elementSizeOf(code: number): number {
  const type = VIEW_TYPES[code];
  const bpe = type === null || type === DataView ? 1 : (type as typeof Uint8Array).BYTES_PER_ELEMENT;
  return bpe === 2 || bpe === 4 || bpe === 8 ? bpe : 1;
}

/**
 * Walks a value the way v8's serializer would and returns the first place holding something
 * it refuses. Only runs after serialization failed, so it costs nothing on the normal path.
 */
export function findUncapturable(root: unknown, rootPath: string): { path: string; what: string } | null {
  const seen = new Set<object>();
  const visit = (value: unknown, path: string): { path: string; what: string } | null => {
    if (typeof value === 'function') return { path, what: 'a function' };
    if (typeof value === 'symbol') return { path, what: 'a symbol' };
    if (typeof value !== 'object' || value === null) return null;
    if (seen.has(value)) return null;
    seen.add(value);
    if (value instanceof WeakMap) return { path, what: 'a WeakMap' };
    if (value instanceof WeakSet) return { path, what: 'a WeakSet' };
    if (value instanceof WeakRef) return { path, what: 'a WeakRef' };
    if (value instanceof Promise) return { path, what: 'a Promise' };
    if (value instanceof WASM_MODULE) return { path, what: 'a WebAssembly.Module' };
    if (value instanceof SharedArrayBuffer) return { path, what: 'a SharedArrayBuffer' };
    if (ArrayBuffer.isView(value)) {
      return value.buffer instanceof SharedArrayBuffer ? { path, what: 'a view of a SharedArrayBuffer' } : null;
    }
    if (value instanceof ArrayBuffer || value instanceof Date || value instanceof RegExp) return null;
    if (value instanceof Map) {
      let i = 0;
      for (const [k, v] of value) {
        const at = `${path}.get(${describeKey(k)})`;
        const hit = visit(k, `${path} key #${i}`) ?? visit(v, at);
        if (hit) return hit;
        i++;
      }
      return null;
    }
    if (value instanceof Set) {
      let i = 0;
      for (const v of value) {
        const hit = visit(v, `${path} item #${i++}`);
        if (hit) return hit;
      }
      return null;
    }
    for (const key of Object.keys(value)) {
      const at = Array.isArray(value) ? `${path}[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
      const hit = visit((value as Record<string, unknown>)[key], at);
      if (hit) return hit;
    }
    return null;
  };
  return visit(root, rootPath);
}

function describeKey(key: unknown): string {
  if (typeof key === 'string') return JSON.stringify(key);
  if (typeof key === 'number' || typeof key === 'boolean' || typeof key === 'bigint') return String(key);
  return typeof key;
}
