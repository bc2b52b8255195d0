// Worker side of the binding tests: the addon loaded in a second Node environment.
//   mode 'roundtrip': encode + decode in this worker, post the per-block hashes and whether the
//                     decoded bytes matched.
//   mode 'busy':      start a slow encode from a region and post 'started'; the test terminates
//                     the worker while the blocks are still on the addon's threads.
import { parentPort, workerData } from 'node:worker_threads';
import { loadNative } from '../../src/native/binding.js';
import { smoothField } from './data.js';

interface Job {
  mode: 'roundtrip' | 'busy';
  nx: number;
  ny: number;
  seed: number;
  blockSize: number;
  level: number;
}

const job = workerData as Job;
const { binding, reason } = loadNative();
if (!binding) throw new Error(`native addon unavailable in worker: ${reason}`);

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
  void binding.encodeBlocks(src, job.blockSize, 8, job.level, dst, stride, out);
  parentPort!.postMessage('started');
} else {
  const dst = new Uint8Array(n * stride);
  await binding.encodeBlocks(field, job.blockSize, 8, job.level, dst, stride, out);
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
    8,
  );
  parentPort!.postMessage({
    failure,
    identical: Buffer.compare(back, field) === 0,
    storedHashes: Array.from(out.storedHashes, (h) => h.toString(16)),
    flags: Array.from(out.flags),
  });
}
