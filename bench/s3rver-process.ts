// s3rver for the image-store bench in a process of its own, as a real object store is: its
// request handling does not share the measured client's event loop or its CPU time. Prints
// `port N` once listening; stops when its stdin closes. Argument: the directory of its objects.
import { createRequire } from 'node:module';

const S3rver = createRequire(import.meta.url)('s3rver') as new (o: object) => { run(): Promise<{ port: number }>; close(): Promise<void> };
const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: process.argv[2], configureBuckets: [{ name: 'bench' }] });
const { port } = await server.run();
process.stdout.write(`port ${port}\n`);
process.stdin.resume().on('end', () => void server.close().then(() => process.exit(0)));
