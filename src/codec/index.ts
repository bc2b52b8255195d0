// Entry point of the block codec layer: picks the native codec when the addon loads, else the
// portable one, and builds each at most once per process (the portable one holds a 16 MiB
// WebAssembly heap; the native one wraps a process-wide addon).
import { loadNative } from '../native/binding.js';
import { createNativeCodec } from './native.js';
import { createPortableCodec } from './portable.js';
import type { BlockCodec } from './types.js';

export type { BlockCodec, BlockEncoder, BlockHashKind, DecodeFailure, DecodeRequest, EncodedBatch } from './types.js';
export {
  MAX_BLOCK_SIZE,
  MAX_LEVEL,
  MIN_LEVEL,
  PORTABLE_MAX_LEVEL,
  zstdCompressBound,
  zstdFrameContentSize,
} from './portable.js';
export { shuffle, unshuffle } from './shuffle.js';
export { createNativeCodec } from './native.js';
export { createPortableCodec } from './portable.js';

export interface GetCodecOptions {
  /** 'portable' skips the addon even when it loads; 'native' (the default) uses it when it loads. */
  prefer?: 'native' | 'portable';
}

let portable: Promise<BlockCodec> | undefined;
let native: BlockCodec | null | undefined;

export function getPortableCodec(): Promise<BlockCodec> {
  if (!portable) {
    const created = createPortableCodec();
    portable = created;
    // A failed start is not cached, so a later call can try again.
    created.catch(() => {
      if (portable === created) portable = undefined;
    });
  }
  return portable;
}

/** The native codec, or null when the addon is not loaded (see `nativeUnavailableReason`). */
export function getNativeCodec(): BlockCodec | null {
  if (native === undefined) {
    const { binding } = loadNative();
    native = binding ? createNativeCodec(binding) : null;
  }
  return native;
}

/** Why the native codec is not available, for logs and `image inspect`; null when it is. */
export function nativeUnavailableReason(): string | null {
  const { binding, reason } = loadNative();
  return binding ? null : (reason ?? 'native addon not loaded');
}

export async function getCodec(options?: GetCodecOptions): Promise<BlockCodec> {
  const prefer = options?.prefer ?? 'native';
  if (prefer !== 'native' && prefer !== 'portable') {
    throw new RangeError(`getCodec: prefer must be 'native' or 'portable', got ${String(prefer)}`);
  }
  if (prefer === 'native') {
    const codec = getNativeCodec();
    if (codec) return codec;
  }
  return getPortableCodec();
}
