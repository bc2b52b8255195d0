// A real S3-protocol server for the tests (s3rver, on loopback, its objects in a temp directory),
// and a TCP relay in front of it that can cut every connection after some bytes: an object store
// that fails in the middle of an upload.
import { createRequire } from 'node:module';
import net from 'node:net';
import type { ExecutionContext } from 'ava';
import { tempDir } from '../../runner/helpers.js';

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverClass = new (options: object) => S3rverInstance;

export const BUCKET = 'cr-images';
/** The credentials s3rver accepts; processes find them the standard AWS way (environment). */
export const S3_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

export interface S3Server {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/** s3rver on a free loopback port with bucket BUCKET; stopped when the test ends. */
export async function startS3(t: ExecutionContext): Promise<S3Server> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: tempDir(t, 's3rver'), configureBuckets: [{ name: BUCKET }] });
  const { port } = await server.run();
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await server.close();
  };
  t.teardown(stop);
  return { endpoint: `http://127.0.0.1:${port}`, port, stop };
}

/**
 * A relay to `port` that, once `cutAfterBytes` bytes have gone towards the server in all, destroys
 * every connection and refuses new ones: the store goes away mid-upload.
 */
export async function startCuttingRelay(t: ExecutionContext, port: number, cutAfterBytes: number): Promise<{ endpoint: string; cut: Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let sent = 0;
  let cut = false;
  let onCut!: () => void;
  const cutPromise = new Promise<void>((resolve) => (onCut = resolve));
  const server = net.createServer((client) => {
    if (cut) return client.destroy();
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (data: Buffer) => {
      sent += data.length;
      if (sent >= cutAfterBytes && !cut) {
        cut = true;
        for (const s of sockets) s.destroy();
        onCut();
        return;
      }
      upstream.write(data);
    });
    upstream.on('data', (data: Buffer) => client.write(data));
    for (const s of [client, upstream]) {
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { endpoint: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, cut: cutPromise };
}
