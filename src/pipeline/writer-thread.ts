// The image writer thread of one job attempt (a worker_thread started by background-writer.ts):
// encodes staged blocks on the addon's threads, writes them, and commits the image with the
// store's protocol (temp file, fsync, link, unlink, dir fsync). Its own event loop drives every
// step, so the job's thread may compute without ever yielding while an image is written.
// It reads only staging memory (a SharedArrayBuffer), never the job's own memory: the job's thread
// copies each block in before this thread reads it (image/sections.ts, inPlace) and writes none
// again until the result is picked up.
import { workerData, type MessagePort } from 'node:worker_threads';
import { getCodec } from '../codec/index.js';
import { toErrorRecord } from '../errors.js';
import type { Manifest } from '../image/format.js';
import { ImageWriter } from '../image/writer.js';
import { LocalStore } from '../store/local-store.js';
import type { CommitResult, PostedCommit, WarmRequest, WriterThreadData } from './background-writer.js';
import { commitImage, systemErrorCode } from './commit.js';
import { nameThread } from '../thread-name.js';

nameThread('cr-writer');

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
// Direct writes: this thread's images are the ones a job does not wait for, and its CPU is
// better spent encoding than copying into the page cache (docs/image-format.md, "Write
// pipeline"). CR_DIRECT_WRITES=0 writes them buffered, which leaves the image in the page cache.
const direct = process.env.CR_DIRECT_WRITES !== '0';

function reply(result: CommitResult): void {
  port.postMessage(result);
  // After the message is queued, so that a safe point that sees the count finds the message.
  Atomics.add(data.signal, 0, 1);
}

async function commit({ request }: PostedCommit): Promise<void> {
  const { parent } = request.plan;
  if (parent === 'last' && last === null) throw new Error('internal error: no previous image on the writer thread');
  const plan = { ...request.plan, parent: parent === 'last' ? last : parent };
  const image = await commitImage(store, writer, { ...request, plan }, { direct, warnings });
  last = image.manifest;
  reply({ type: 'committed', sequence: request.header.sequence, image });
}

/** One write per page: afterwards the job's staging copy finds every page present. */
function warm(request: WarmRequest): void {
  const { memory, ready } = request;
  for (let i = 0; i < memory.length; i += 4096) memory[i] = 0;
  Atomics.store(ready, 0, 1);
}

port.on('message', (message: PostedCommit | WarmRequest) => {
  if (message.type === 'warm') return warm(message);
  commit(message).catch((err: unknown) => reply({ type: 'failed', sequence: message.request.header.sequence, error: toErrorRecord(err), errno: systemErrorCode(err) }));
});
