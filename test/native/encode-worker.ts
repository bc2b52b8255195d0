// Worker side of the binding tests: the addon loaded in a second Node environment.
//   mode 'roundtrip': encode + decode in this worker, post the per-block hashes and whether the
//                     decoded bytes matched.
//   mode 'busy':      start a slow encode from a region and post 'started'; the test terminates
//                     the worker while the blocks are still on the addon's threads.
//   mode 'bigRegion': allocate a 3 GiB region in a worker whose V8 heap is tiny, touch it
//                     sparsely, free it.
import v8 from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { loadNative } from '../../src/native/binding.js';
import { smoothField } from './data.js';

interface Job {
  mode: 'roundtrip' | 'busy' | 'bigRegion';
  nx: number;
  ny: number;
  seed: number;
  blockSize: number;
  level: number;
}

const job = workerData as Job;
const { binding, reason } = loadNative();
if (!binding) throw new Error(`native addon unavailable in worker: ${reason}`);

if (job.mode === 'bigRegion') {
  const length = 3 * 1024 * 1024 * 1024;
  const region = binding.allocRegion(length);
  const bytes = new Uint8Array(region);
  for (let i = 0; i < length; i += 1024 * 1024) bytes[i] = 1;
  bytes[length - 1] = 2;
  const byteLength = region.byteLength;
  const ends = [bytes[0]!, bytes[length - 1]!];
  binding.freeRegion(region);
  parentPort!.postMessage({ byteLength, heapLimit: v8.getHeapStatistics().heap_size_limit, ends, freed: region.byteLength });
  process.exit(0);
}

const field = smoothField(job.nx, job.ny, job.seed);
const n = Math.ceil(field.length / job.blockSize);
const stride = binding.compressBound(job.blockSize);
const out = {
  storedLengths: new Uint32Array(n),
  flags: new Uint8Array(n),
  rawHashes: new BigUint64Array(n),
  storedHashes: new BigUint64Array(n),
};

if (job.mode === 'busy') {
  const region = binding.allocRegion(field.length);
  const src = new Uint8Array(region);
  src.set(field);
  const dst = new Uint8Array(binding.allocRegion(n * stride));
  void binding.encodeBlocks(src, job.blockSize, 8, job.level, dst, stride, out, false, 1);
  parentPort!.postMessage('started');
} else {
  const dst = new Uint8Array(n * stride);
  await binding.encodeBlocks(field, job.blockSize, 8, job.level, dst, stride, out, false, 1);
  const back = new Uint8Array(field.length);
  const failure = binding.decodeBlocks(
    dst,
    Float64Array.from({ length: n }, (_, i) => i * stride),
    out.storedLengths,
    out.flags,
    out.storedHashes,
    out.rawHashes,
    back,
    Float64Array.from({ length: n }, (_, i) => i * job.blockSize),
    Uint32Array.from({ length: n }, (_, i) => Math.min(job.blockSize, field.length - i * job.blockSize)),
    8, 1,
  );
  parentPort!.postMessage({
    failure,
    identical: Buffer.compare(back, field) === 0,
    storedHashes: Array.from(out.storedHashes, (h) => h.toString(16)),
    flags: Array.from(out.flags),
  });
}
