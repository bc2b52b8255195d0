// Image transfer between an agent and the scheduler, in chunks of about 1 MiB (grpc-js refuses
// messages over 4 MiB by default), respecting write() back-pressure both ways so that memory
// stays bounded by a few chunks whatever the image's size.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CHUNK_BYTES, type SchedulerClient } from '../proto/load.js';
import type { ImageChunk__Output, UploadImageReply__Output } from '../proto/types.js';

export interface UploadRequest {
  job: number;
  attempt: number;
  sequence: number;
  node: string;
  file: string;
}

/** Streams one committed image to the scheduler; resolves with its reply. */
export async function uploadImage(client: SchedulerClient, request: UploadRequest, deadlineMs = 600_000): Promise<UploadImageReply__Output> {
  const handle = await fs.promises.open(request.file, 'r');
  try {
    const { size } = await handle.stat();
    let settle!: (err: grpc.ServiceError | null, value?: UploadImageReply__Output) => void;
    const reply = new Promise<UploadImageReply__Output>((resolve, reject) => {
      settle = (err, value) => (err ? reject(err) : resolve(value!));
    });
    const call = client.UploadImage({ deadline: Date.now() + deadlineMs }, (err, value) => settle(err, value));
    // The reply may fail (the scheduler went away) while a chunk is being read: it is awaited at
    // the end, and meanwhile stops the sending.
    let failed = false;
    reply.catch(() => (failed = true));
    // Surfaced through `reply`; without a listener a failed call would also throw here.
    call.on('error', () => undefined);
    const write = async (message: object): Promise<void> => {
      if (failed) await reply;
      if (!call.write(message)) await Promise.race([new Promise((resolve) => call.once('drain', resolve)), reply.then(() => undefined, () => undefined)]);
    };
    await write({ header: { job: request.job, attempt: request.attempt, sequence: request.sequence, bytes: size, node: request.node } });
    const hash = createHash('sha256');
    for (let offset = 0; offset < size; ) {
      // A fresh buffer per chunk: grpc-js keeps a reference until the chunk is sent.
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, size - offset));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0) throw new Error(`${request.file} shrank while it was sent`);
      const chunk = buffer.subarray(0, bytesRead);
      hash.update(chunk);
      offset += bytesRead;
      await write({ chunk });
    }
    await write({ trailer: { sha256: hash.digest('hex') } });
    call.end();
    return await reply;
  } finally {
    await handle.close();
  }
}

/**
 * Fetches one image into `file` (atomically: temp then rename) and checks its sha256 against
 * what the scheduler recorded when it received it.
 */
export async function downloadImage(client: SchedulerClient, job: number, sequence: number, sha256: string, file: string): Promise<number> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.download`;
  const out = fs.createWriteStream(temp, { mode: 0o600 });
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const call = client.DownloadImage({ job, sequence });
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
