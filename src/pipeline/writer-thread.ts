// The image writer thread of one job attempt (a worker_thread started by background-writer.ts):
// encodes staged blocks on the addon's threads, writes them, and commits the image with the
// store's protocol (temp file, fsync, link, unlink, dir fsync). Its own event loop drives every
// step, so the job's thread may compute without ever yielding while an image is written.
// It reads only staging memory (a SharedArrayBuffer the job does not write until the result is
// picked up) and never the job's regions, which are not shareable.
import { workerData, type MessagePort } from 'node:worker_threads';
import { getCodec } from '../codec/index.js';
import { CrError } from '../errors.js';
import type { Manifest } from '../image/format.js';
import { ImageWriter, type ImageHeaderInfo, type SectionInput } from '../image/writer.js';
import { LocalStore } from '../store/local-store.js';
import type { CommitRequest, CommitResult, WarmRequest, WriterThreadData } from './background-writer.js';

const data = workerData as WriterThreadData;
const port: MessagePort = data.port;
const codec = await getCodec({ prefer: data.writer.codec });
// Background: this thread's images are encoded while the job computes, on the addon's
// lower-priority threads. A durable checkpoint's image is encoded there too; the job's thread
// waits then, so yielding costs it nothing unless other processes want the cores.
const writer = new ImageWriter({ ...data.writer, codec, key: Buffer.from(data.writer.key), background: true });
/** The store's warnings (retention), handed to the job's thread with the next committed image. */
const warnings: string[] = [];
const store = LocalStore.withKey(data.store.dir, data.store.key, data.store.keepImages, (message) => warnings.push(message));
/** The manifest of the last image this thread committed: the usual parent of the next one. */
let last: Manifest | null = null;
/** `data` of a staged section: never read, its bytes are in staging memory. */
const UNUSED = new Uint8Array(0);

function reply(result: CommitResult): void {
  port.postMessage(result);
  // After the message is queued, so that a safe point that sees the count finds the message.
  Atomics.add(data.signal, 0, 1);
}

/**
 * Copy-on-write sections are copied into staging memory by the addon's threads after the job
 * went on; the word each one carries becomes 1 when its blocks are all there. The addon cannot
 * wake Atomics.waitAsync (V8 keeps its own waiter lists), so it is polled: a flush of 1 GiB takes
 * about 0.1 s, against a poll every millisecond.
 */
async function flushed(sections: CommitRequest['sections']): Promise<void> {
  for (const s of sections) {
    const ready = s.staged.ready;
    if (ready === null) continue;
    while (Atomics.load(ready, 0) === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    if (Atomics.load(ready, 0) !== 1) {
      throw new Error(`the copy-on-write copy of ${s.kind} "${s.name}" was cancelled: the region was released during the checkpoint`);
    }
  }
}

async function commit(request: CommitRequest): Promise<void> {
  await flushed(request.sections);
  const previous = request.previous === 'last' ? last : request.previous;
  if (request.previous === 'last' && last === null) throw new Error('internal error: no previous image on the writer thread');
  const sections = request.sections.map((s) => ({ ...s, data: UNUSED }) as SectionInput);
  const header: ImageHeaderInfo = request.header;
  // Direct writes: this thread's images are the ones a job does not wait for, and its CPU is
  // better spent encoding than copying into the page cache (docs/image-format.md, "Write
  // pipeline"). CR_DIRECT_WRITES=0 writes them buffered, which leaves the image in the page cache.
  const direct = process.env.CR_DIRECT_WRITES === '0' ? null : (temp: string) => ({ path: temp });
  const { file, result } = await store.commit(request.header.job, request.header.sequence, (handle, temp) =>
    writer.write(handle, header, sections, previous ? { manifest: previous, changed: request.changed } : null, direct?.(temp) ?? null),
  );
  last = result.manifest;
  reply({ type: 'committed', sequence: header.sequence, file, bytes: result.bytes, rawBytes: result.rawBytes, sharedBytes: result.sharedBytes, manifest: result.manifest, warnings: warnings.splice(0) });
}

/** One write per page: afterwards the job's staging copy finds every page present. */
function warm(request: WarmRequest): void {
  const { memory, ready } = request;
  for (let i = 0; i < memory.length; i += 4096) memory[i] = 0;
  Atomics.store(ready, 0, 1);
}

port.on('message', (request: CommitRequest | WarmRequest) => {
  if (request.type === 'warm') return warm(request);
  commit(request).catch((err: unknown) => {
    const e = err as NodeJS.ErrnoException;
    reply({
      type: 'failed',
      sequence: request.header.sequence,
      error: { message: e?.message ?? String(err), code: typeof e?.code === 'string' ? e.code : null, path: e?.path ?? null, cr: err instanceof CrError },
    });
  });
});
