// The library's face towards cr's own scheduler (scheduler/): the internals it may use, and the
// only module of src/ besides the public index (index.ts) that scheduler/ imports. A job and its
// libraries never need it, so package.json does not export it; it can change with any release.
// Keeping the list here makes what the scheduler depends on visible in one place: an internal
// that is not listed can be changed without reading scheduler/. test/layout.test.ts holds the
// rule. Grouped by what the scheduler does with each.

// Running a job: the local runner (`cr-scheduler run`, and each attempt on an agent), its
// options and events, and how its failures are classed.
export { JobRunner, isRetryable, type RunEvent, type RunOptions, type RunOutcome } from './runner/runner.js';
export { DEFAULT_FULL_EVERY, DEFAULT_INTERVAL_MS, MIN_YOUNG_INTERVAL_MS, resolvePolicyOptions, youngIntervalMs } from './policy.js';
export { Backoff, backoff } from './backoff.js';
export type { ImageCommitted } from './job/context.js';
export { toErrorRecord, type ErrorRecord } from './errors.js';

// A job's code: how a job module is bundled for the cluster, and what identifies its code.
export { fromEsbuild, JOB_BUILD_OPTIONS, noDefaultExport } from './loader/job-module.js';
export { codeOfFiles, sha256Hex, type CodeIdentity } from './runner/identity.js';

// Images and their stores: reading and checking an image, the codec its blocks need, the tag,
// and the local store's layout (an agent's per-job store, the scheduler's image directory).
export { ImageReader } from './image/reader.js';
export { manifestFromEnds } from './image/manifest-reader.js';
export { blockHashOf, FOOTER_LENGTH, FOOTER_MAGIC, FORMAT_VERSION, HEADER_LENGTH, MAX_LEVEL, MAX_MANIFEST_LENGTH, MIN_FORMAT_VERSION, MIN_LEVEL, imageFileName, paddedSequence, validateManifest, zstdBound, type Manifest } from './image/format.js';
export { imageTag, DIRECT_MIN_BYTES } from './image/writer.js';
export { getCodec, getPortableCodec } from './codec/index.js';
export type { BlockCodec, BlockHashKind } from './codec/types.js';
export { DEFAULT_KEEP_IMAGES, LocalStore, STORE_KEY_FILE, checkJobName } from './store/local-store.js';
export { readKeyFile } from './store/key.js';
export { createFileOnceSync, fsyncDir, fsyncDirSync } from './store/durable.js';

// Writing and reading files past the page cache (large transfers): page-aligned memory and
// O_DIRECT descriptors.
export { DIRECT_ALIGN, DIRECT_CHUNK, DirectSink, DirectStaging, openDirect, writeAll } from './image/direct-sink.js';
export { allocateRegion } from './region.js';

// The package itself: its name and version, and what the native addon gives this machine
// (`cr-scheduler doctor`).
export { PACKAGE_NAME, VERSION } from './version.js';
export { loadNative, type NativeBinding } from './native/binding.js';
