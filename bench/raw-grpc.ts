// The floor under the image upload figures: grpc-js alone, streaming the same number of bytes in
// the same 1 MiB chunks to a server process that only counts them, with the channel options and
// the server receive window the scheduler uses. No protobuf, no sha256, no file on either side:
// what is left between this and an upload is cr's own work. `node dist/bench/raw-grpc.js serve`
// is that server (the bench starts it).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, CHUNK_BYTES } from '../scheduler/proto/load.js';
import { raiseReceiveWindow } from '../scheduler/server/window.js';
import { processCpuMs } from './process-cpu.js';

const same = (b: Buffer): Buffer => b;
const SERVICE: grpc.ServiceDefinition = {
  Sink: { path: '/bench.Raw/Sink', requestStream: true, responseStream: false, requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same, originalName: 'Sink' },
};

function serve(): void {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  server.addService(SERVICE, {
    Sink(call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      let bytes = 0;
      call.on('data', (b: Buffer) => (bytes += b.length));
      call.on('end', () => callback(null, Buffer.from(String(bytes))));
    },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    raiseReceiveWindow(server);
    process.stdout.write(`listening on ${port}\n`);
  });
}

export interface RawRun {
  ms: number;
  clientCpuMs: number;
  serverCpuMs: number;
}

/** `reps` client streams of `sizeMiB` MiB; every chunk is one buffer, which grpc-js copies into the message it frames. */
export async function rawGrpcFloor(sizeMiB: number, reps: number): Promise<RawRun[]> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    while (!/listening on \d+\n/.test(out)) {
      if (child.exitCode !== null) throw new Error('the raw grpc-js server exited');
      await new Promise((r) => setTimeout(r, 10));
    }
    const port = /listening on (\d+)/.exec(out)![1];
    const Client = grpc.makeGenericClientConstructor(SERVICE, 'Raw');
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    const source = Buffer.alloc(CHUNK_BYTES, 0x5a);
    const runs: RawRun[] = [];
    try {
      for (let rep = 0; rep < reps; rep++) {
        const t = performance.now();
        const cpu = [process.cpuUsage(), processCpuMs(child.pid!)] as const;
        await new Promise<void>((resolve, reject) => {
          const call = (client as unknown as { Sink: (cb: (e: Error | null) => void) => grpc.ClientWritableStream<Buffer> }).Sink((err) => (err ? reject(err) : resolve()));
          let sent = 0;
          const pump = (): void => {
            while (sent < sizeMiB) {
              sent++;
              if (!call.write(source)) return void call.once('drain', pump);
            }
            call.end();
          };
          pump();
        });
        const used = process.cpuUsage(cpu[0]);
        runs.push({ ms: performance.now() - t, clientCpuMs: (used.user + used.system) / 1000, serverCpuMs: processCpuMs(child.pid!) - cpu[1] });
      }
    } finally {
      client.close();
    }
    return runs;
  } finally {
    child.kill('SIGKILL');
  }
}

if (process.argv[2] === 'serve') serve();
