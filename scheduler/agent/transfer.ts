// Image transfer between an agent and the scheduler, in chunks of about 1 MiB (grpc-js refuses
// messages over 4 MiB by default), respecting write() back-pressure both ways so that memory
// stays bounded by a few chunks whatever the image's size.
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { readImageTail } from '../passing-blocks.js';
import { ChunkBuffers, ChunkedFile, ChunkReader } from '../file-chunks.js';
import { CHUNK_BYTES, Encoded, encodeBytesField, type SchedulerClient } from '../proto/load.js';
import type { ImageChunk__Output, UploadImageReply__Output } from '../proto/types.js';

export interface UploadRequest {
  job: number;
  attempt: number;
  sequence: number;
  node: string;
  /** The attempt's secret (Assignment.secret). */
  secret: string;
  file: string;
  /** What the checkpoint cost the job (ImageCommitted), sent along for the scheduler's records. */
  stats?: { rawBytes: number; pauseMs: number; commitMs: number };
}

/** An image smaller than this per part goes on one stream: parts of a few chunks gain nothing. */
export const MIN_PART_BYTES = 4 << 20;

interface PartSpec {
  parts: number;
  part: number;
  offset: number;
  length: number;
  uploadId: string;
}

/** The byte ranges of an upload of `size` bytes on `lanes` connections: whole chunks, the last part takes the rest. */
export function partRanges(size: number, lanes: number): { offset: number; length: number }[] {
  const parts = Math.max(1, Math.min(lanes, Math.floor(size / MIN_PART_BYTES)));
  const step = Math.ceil(size / parts / CHUNK_BYTES) * CHUNK_BYTES;
  const ranges: { offset: number; length: number }[] = [];
  for (let offset = 0; offset < size; offset += step) ranges.push({ offset, length: Math.min(step, size - offset) });
  return ranges.length > 0 ? ranges : [{ offset: 0, length: 0 }];
}

/**
 * Streams one committed image to the scheduler; resolves with its reply. With several clients
 * (transferClients: one connection each) a large image goes as that many parts at once, each a
 * byte range on its own connection; the scheduler assembles them and answers every part with
 * the one outcome. A part that fails cancels the others, and the whole upload fails (the
 * scheduler keeps nothing of it), to be tried again whole.
 */
export async function uploadImage(clients: SchedulerClient | SchedulerClient[], request: UploadRequest, deadlineMs = 600_000, signal?: AbortSignal): Promise<UploadImageReply__Output> {
  const lanes = Array.isArray(clients) ? clients : [clients];
  const file = await ChunkedFile.open(request.file);
  let onDone = (): void => undefined;
  try {
    const { size } = file;
    const ranges = partRanges(size, lanes.length);
    // The tail goes ahead in every part's header, whichever arrives first: the scheduler then
    // hashes the blocks as they stream in, and reads back only those that did not pass whole
    // on one stream (docs/protocol.md).
    const tail = await readImageTail(file.handle, size);
    const header = { job: request.job, attempt: request.attempt, sequence: request.sequence, bytes: size, node: request.node, secret: request.secret, ...request.stats, ...(tail ? { tail } : {}) };
    const calls: grpc.ClientWritableStream<unknown>[] = [];
    // Aborted (the agent left that scheduler): the calls end now, not at their deadline.
    const abort = (): void => calls.forEach((c) => c.cancel());
    signal?.addEventListener('abort', abort, { once: true });
    onDone = () => signal?.removeEventListener('abort', abort);
    if (ranges.length === 1) return await sendPart(lanes[0]!, file, header, null, deadlineMs, calls);
    const uploadId = randomUUID();
    const replies = ranges.map((r, part) => sendPart(lanes[part]!, file, header, { parts: ranges.length, part, ...r, uploadId }, deadlineMs, calls));
    // The first failure or refusal ends the others at once, instead of letting them run on.
    const stop = (): void => calls.forEach((c) => c.cancel());
    replies.forEach((reply) => reply.then((r) => void (r.accepted ? undefined : stop()), stop));
    const settled = await Promise.allSettled(replies);
    const answers = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    // A refusal is the answer (the parts cancelled after it are not failures of their own).
    const refused = answers.find((r) => r.stale) ?? answers.find((r) => !r.accepted);
    if (refused) return refused;
    const errors = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as grpc.ServiceError] : []));
    if (errors.length > 0) throw errors.find((e) => e.code !== grpc.status.CANCELLED) ?? errors[0];
    return answers[0]!;
  } finally {
    onDone();
    await file.close();
  }
}

/** One stream: the header, the chunks of [offset, offset + length) (the whole file without a part), the trailer. */
async function sendPart(
  client: SchedulerClient,
  file: ChunkedFile,
  header: { job: number; attempt: number; sequence: number; bytes: number; node: string; secret: string; tail?: Buffer },
  part: PartSpec | null,
  deadlineMs: number,
  calls: grpc.ClientWritableStream<unknown>[],
): Promise<UploadImageReply__Output> {
  let settle!: (err: grpc.ServiceError | null, value?: UploadImageReply__Output) => void;
  const reply = new Promise<UploadImageReply__Output>((resolve, reject) => {
    settle = (err, value) => (err ? reject(err) : resolve(value!));
  });
  const call = client.UploadImage({ deadline: Date.now() + deadlineMs }, (err, value) => settle(err, value));
  calls.push(call as grpc.ClientWritableStream<unknown>);
  // The reply may come early (the scheduler refused the upload, went away, or another part
  // failed) while chunks are still being read: it ends the sending, and is what this returns.
  let replied = false;
  const settled = reply.then(
    () => void (replied = true),
    () => void (replied = true),
  );
  // Surfaced through `reply`; without a listener a failed call would also throw here.
  call.on('error', () => undefined);
  class Replied extends Error {}
  const write = async (message: object, written?: () => void): Promise<void> => {
    if (replied) throw new Replied();
    if (call.write(message, written)) return;
    let onDrain!: () => void;
    await Promise.race([new Promise<void>((resolve) => call.once('drain', (onDrain = resolve))), settled]);
    call.removeListener('drain', onDrain);
  };
  const start = part?.offset ?? 0;
  const end = part ? part.offset + part.length : header.bytes;
  const buffers = new ChunkBuffers(file.direct, settled, () => replied);
  const chunks = new ChunkReader(file, buffers, start, end);
  try {
    await write({ header: { ...header, ...(part ?? {}) } });
    const hash = createHash('sha256');
    for (;;) {
      const chunk = await chunks.next();
      if (chunk === null) {
        if (replied) throw new Replied();
        break;
      }
      const { buffer, at, bytes } = chunk;
      hash.update(buffer.subarray(at, at + bytes));
      // The buffer is the message: the field's tag and length go just before the data.
      await write(new Encoded(encodeBytesField(2, buffer, at, bytes)), () => buffers.give(buffer));
    }
    await write({ trailer: { sha256: hash.digest('hex') } });
    call.end();
  } catch (err) {
    if (!(err instanceof Replied)) {
      // The scheduler must not wait for the rest of a part that will never come.
      call.cancel();
      throw err;
    }
  }
  return await reply;
}

/**
 * Records an image this agent wrote to the shared image store (Registered.image_store): an
 * upload whose header carries the image's sha256 as stored and no bytes. The scheduler checks
 * the image in the store before it records it, and answers as for an upload.
 */
export async function recordImage(client: SchedulerClient, request: Omit<UploadRequest, 'file'> & { bytes: number; sha256: string }, deadlineMs = 120_000): Promise<UploadImageReply__Output> {
  return await new Promise<UploadImageReply__Output>((resolve, reject) => {
    const call = client.UploadImage({ deadline: Date.now() + deadlineMs }, (err, value) => (err ? reject(err) : resolve(value!)));
    const { job, attempt, sequence, node, secret, bytes, sha256 } = request;
    call.write({ header: { job, attempt, sequence, node, secret, bytes, ...request.stats, storedSha256: sha256 } });
    call.end();
  });
}

/**
 * Fetches one image into `file` (atomically: temp then rename) and checks its sha256 against
 * what the scheduler recorded when it received it. `access`: the attempt that reads it and its secret.
 */
export async function downloadImage(
  clients: SchedulerClient | SchedulerClient[],
  job: number,
  sequence: number,
  sha256: string,
  file: string,
  access: { attempt: number; secret: string },
): Promise<number> {
  const client = Array.isArray(clients) ? clients[0]! : clients;
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.download`;
  const out = fs.createWriteStream(temp, { mode: 0o600 });
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const call = client.DownloadImage({ job, sequence, attempt: access.attempt, secret: access.secret });
      call.on('data', (chunk: ImageChunk__Output) => {
        const data = chunk.data as Buffer;
        hash.update(data);
        bytes += data.length;
        if (!out.write(data)) {
          call.pause();
          out.once('drain', () => call.resume());
        }
      });
      call.on('error', reject);
      call.on('end', resolve);
    });
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    const got = hash.digest('hex');
    if (got !== sha256) throw new Error(`image ${sequence} of job ${job} arrived damaged (sha256 ${got}, expected ${sha256})`);
    await fs.promises.rename(temp, file);
    return bytes;
  } catch (err) {
    out.destroy();
    await fs.promises.rm(temp, { force: true });
    throw err;
  }
}
