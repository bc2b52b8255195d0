// A shared image store in S3-compatible object storage (`--images s3://bucket/prefix`). The
// region and credentials are found the standard AWS way (AWS_* environment variables, ~/.aws
// config and credentials files, instance roles); `endpoint` names an S3-compatible server
// (MinIO, Ceph RGW, …), addressed path-style. An image is written with lib-storage's multipart
// Upload (its parts go up several at once) and is visible only once complete, under its name:
// S3 makes the object appear whole or not at all, as the directory store's link does.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { digestFile, ImageDigest, type DigestKind } from './digest.js';
import { checkName, SharedStoreError, type SharedStore } from './store.js';

/** lib-storage's default part size, which is also S3's minimum for all but the last part. */
export const DEFAULT_PART_BYTES = 5 << 20;
/** Parts of one image in flight at once. */
export const PARTS_AT_ONCE = 4;

export interface S3StoreOptions {
  /** An S3-compatible server's URL (default: AWS, from the region). */
  endpoint?: string;
  /** Bytes per part of a multipart upload (at least DEFAULT_PART_BYTES; tests use the minimum). */
  partBytes?: number;
}

export class S3Store implements SharedStore {
  readonly location: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #partBytes: number;

  private constructor(location: string, bucket: string, prefix: string, client: S3Client, partBytes: number) {
    this.location = location;
    this.#bucket = bucket;
    this.#prefix = prefix;
    this.#client = client;
    this.#partBytes = partBytes;
  }

  /** The store at `s3://bucket/prefix`. Nothing is asked of the server here: the first put or fetch says whether it answers. */
  static open(location: string, options: S3StoreOptions = {}): S3Store {
    const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(location);
    if (!match) throw new SharedStoreError('CR_IMAGE_STORE_LOCATION', `${JSON.stringify(location)} is not an S3 location; write s3://BUCKET or s3://BUCKET/PREFIX`);
    const prefix = (match[2] ?? '').replace(/\/+$/, '');
    const config: S3ClientConfig = { region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1' };
    if (options.endpoint) {
      try {
        new URL(options.endpoint);
      } catch {
        throw new SharedStoreError('CR_IMAGE_STORE_LOCATION', `image store endpoint ${JSON.stringify(options.endpoint)} is not a URL (http://host:port)`);
      }
      config.endpoint = options.endpoint;
      config.forcePathStyle = true;
      // S3-compatible servers do not all take the SDK's default CRC trailers: only where required.
      config.requestChecksumCalculation = 'WHEN_REQUIRED';
      config.responseChecksumValidation = 'WHEN_REQUIRED';
    }
    // cr runs on Node 20; the SDK's notice that its future versions will not is for cr's
    // maintainers (package.json pins a range that works), not for every agent's log.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const partBytes = options.partBytes ?? DEFAULT_PART_BYTES;
    if (!Number.isSafeInteger(partBytes) || partBytes < DEFAULT_PART_BYTES) throw new RangeError(`partBytes must be at least ${DEFAULT_PART_BYTES} (S3's smallest part)`);
    return new S3Store(location, match[1]!, prefix, new S3Client(config), partBytes);
  }

  #key(name: string): string {
    checkName(name);
    return this.#prefix ? `${this.#prefix}/${name}` : name;
  }

  #what(name: string): string {
    return `${name} in image store ${this.location}`;
  }

  async put(name: string, file: string): Promise<{ bytes: number; sha256: string }> {
    const key = this.#key(name);
    const { size: bytes } = await fsp.stat(file);
    const existing = await this.#head(name);
    if (existing !== null) {
      // A retry of this put (its reply was lost) finds its own bytes; other bytes are refused.
      // Rare, so the object is read back to compare rather than trusted by a label.
      if (existing.bytes === bytes) {
        const sha256 = await digestFile(file, 'pieces');
        if ((await this.#digestOf(name)) === sha256) return { bytes, sha256 };
      }
      throw new SharedStoreError('CR_IMAGE_STORE_EXISTS', `${this.#what(name)} already exists with other bytes; images are never replaced`);
    }
    // Hashed on its way up: hashing first held every put back by a full pass over the image
    // (0.7 ms per MiB here), which the network's waits now cover.
    const digest = new ImageDigest('pieces');
    const source = fs.createReadStream(file, { highWaterMark: 1 << 20 });
    const body = hashing(digest);
    source.on('error', (err) => body.destroy(err)).pipe(body);
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.#bucket, Key: key, Body: body, ContentLength: bytes },
      partSize: this.#partBytes,
      queueSize: PARTS_AT_ONCE,
      // A failed part aborts the multipart upload: no parts are left to pay for.
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      source.destroy();
      throw failed(err, `writing ${this.#what(name)}`);
    }
    return { bytes, sha256: await digest.digest() };
  }

  async #head(name: string): Promise<{ bytes: number } | null> {
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(name) }));
      return { bytes: head.ContentLength ?? 0 };
    } catch (err) {
      if (isMissing(err)) return null;
      throw failed(err, `looking for ${this.#what(name)}`);
    }
  }

  /** The pieces digest of object `name`, read through. */
  async #digestOf(name: string): Promise<string> {
    const digest = new ImageDigest('pieces');
    try {
      const got = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(name) }));
      for await (const chunk of got.Body as AsyncIterable<Uint8Array>) await digest.add(chunk);
    } catch (err) {
      throw failed(err, `reading ${this.#what(name)}`);
    }
    return await digest.digest();
  }

  async fetch(name: string, file: string, kind: DigestKind): Promise<{ bytes: number; sha256: string }> {
    const temp = `${file}.${randomUUID()}.fetch`;
    const digest = new ImageDigest(kind);
    try {
      await fsp.mkdir(path.dirname(file), { recursive: true });
      const got = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(name) }));
      await pipeline(got.Body as NodeJS.ReadableStream, hashing(digest), fs.createWriteStream(temp, { flags: 'wx', mode: 0o600 }));
      await fsp.rename(temp, file);
      return { bytes: digest.bytes, sha256: await digest.digest() };
    } catch (err) {
      await fsp.rm(temp, { force: true }).catch(() => undefined);
      throw failed(err, `reading ${this.#what(name)}`);
    }
  }

  async size(name: string): Promise<number | null> {
    return (await this.#head(name))?.bytes ?? null;
  }

  async read(name: string, position: number, length: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0);
    try {
      const got = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(name), Range: `bytes=${position}-${position + length - 1}` }));
      return Buffer.from(await got.Body!.transformToByteArray());
    } catch (err) {
      throw failed(err, `reading ${this.#what(name)}`);
    }
  }

  async remove(names: readonly string[]): Promise<void> {
    // DeleteObjects takes up to 1000 keys; a key already gone is not an error.
    for (let i = 0; i < names.length; i += 1000) {
      const keys = names.slice(i, i + 1000).map((n) => ({ Key: this.#key(n) }));
      try {
        const reply = await this.#client.send(new DeleteObjectsCommand({ Bucket: this.#bucket, Delete: { Objects: keys, Quiet: true } }));
        const errors = (reply.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
        if (errors.length > 0) throw new Error(errors.map((e) => `${e.Key}: ${e.Code} ${e.Message ?? ''}`).join('; '));
      } catch (err) {
        throw failed(err, `removing images from image store ${this.location}`);
      }
    }
  }

  async removeAll(prefix: string): Promise<void> {
    const names: string[] = [];
    let token: string | undefined;
    const full = this.#key(prefix);
    const cut = full.length - prefix.length;
    try {
      do {
        const page = await this.#client.send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: full, ContinuationToken: token }));
        for (const o of page.Contents ?? []) if (o.Key) names.push(o.Key.slice(cut));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw failed(err, `listing ${prefix} in image store ${this.location}`);
    }
    await this.remove(names);
  }

  close(): void {
    this.#client.destroy();
  }
}

/** Passes bytes through, hashing them (and counting them with `counted`) on the way. */
function hashing(digest: ImageDigest): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      digest.add(chunk).then(() => done(null, chunk), done);
    },
  });
}

function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  // A missing bucket is the store's failure, not a missing image.
  if (e?.name === 'NoSuchBucket') return false;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

function failed(err: unknown, what: string): SharedStoreError {
  if (err instanceof SharedStoreError) return err;
  return new SharedStoreError(isMissing(err) ? 'CR_IMAGE_STORE_MISSING' : 'CR_IMAGE_STORE_FAILED', `${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
