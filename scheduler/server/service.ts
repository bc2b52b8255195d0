// The gRPC face of the scheduler: binds the service of cr.proto to SchedulerCore. Refusals
// become gRPC statuses whose details say what to do; streams respect back-pressure.
import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, CHUNK_BYTES, schedulerService, type SchedulerHandlers } from '../proto/load.js';
import type { Command, UploadImageMessage__Output } from '../proto/types.js';
import type { CommandSink } from './leases.js';
import { SchedulerCore, SchedulerError } from './scheduler.js';

function toStatus(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof SchedulerError) return { code: grpc.status[err.status], details: err.message };
  return { code: grpc.status.INTERNAL, details: (err as Error)?.message ?? String(err) };
}

/** A unary handler around a synchronous core method. */
function unaryHandler<Req, Res>(fn: (request: Req) => Res): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    try {
      callback(null, fn(call.request));
    } catch (err) {
      callback(toStatus(err) as grpc.ServiceError);
    }
  };
}

export function handlers(core: SchedulerCore): SchedulerHandlers {
  return {
    Connect(call) {
      const node = call.request.node;
      const sink: CommandSink = {
        write: (command: Command) => {
          if (!call.writableEnded && !call.destroyed) call.write(command);
        },
        end: () => {
          if (!call.writableEnded && !call.destroyed) call.end();
        },
      };
      const gone = (): void => core.disconnected(node, sink);
      call.on('cancelled', gone);
      call.on('close', gone);
      call.on('error', gone);
      try {
        core.connect(call.request, sink);
      } catch (err) {
        call.emit('error', toStatus(err));
      }
    },
    Heartbeat: unaryHandler((r) => ({ known: core.heartbeat(r.node, r.session) })),
    GetCode: unaryHandler((r) => ({ code: core.code(r.sha256) })),
    Report: unaryHandler((r) => ({ stale: !core.report(r) })),
    Finish: unaryHandler((r) => ({ stale: !core.finish(r) })),
    UploadImage(call, callback) {
      const iterator = (call as AsyncIterable<UploadImageMessage__Output>)[Symbol.asyncIterator]();
      void (async () => {
        const first = await iterator.next();
        const header = first.done ? undefined : first.value.header;
        if (!header) throw new SchedulerError('INVALID_ARGUMENT', 'an upload starts with its header');
        const parts = {
          async *[Symbol.asyncIterator]() {
            for (;;) {
              const next = await iterator.next();
              if (next.done) return;
              if (next.value.part === 'chunk') yield { chunk: next.value.chunk };
              else if (next.value.part === 'trailer') yield { sha256: next.value.trailer?.sha256 ?? '' };
            }
          },
        };
        return core.upload(header, parts);
      })().then(
        (result) => callback(null, result.accepted ? { accepted: true } : { accepted: false, stale: result.stale, reason: result.reason }),
        (err) => callback(toStatus(err) as grpc.ServiceError),
      );
    },
    DownloadImage(call) {
      void (async () => {
        const file = core.imageFile(call.request.job, call.request.sequence);
        const handle = await fs.promises.open(file, 'r');
        try {
          for (;;) {
            // A new buffer per chunk: grpc-js may hold it until it is sent.
            const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
            const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, null);
            if (bytesRead === 0) break;
            if (call.cancelled) return;
            if (!call.write({ data: buffer.subarray(0, bytesRead) })) await new Promise((resolve) => call.once('drain', resolve));
          }
        } finally {
          await handle.close();
        }
        call.end();
      })().catch((err) => call.emit('error', toStatus(err)));
    },
    Submit: unaryHandler((r) => core.submit(r)),
    GetJob: unaryHandler((r) => core.jobInfo(core.job(r.job))),
    ListJobs: unaryHandler((r) => ({ jobs: core.jobs.list(r.states).map((j) => core.jobInfo(j)) })),
    ListNodes: unaryHandler(() => ({ nodes: core.listNodes() })),
    GetLogs: unaryHandler((r) => {
      const job = core.job(r.job);
      return { lines: core.jobs.events(r.job, r.after), state: job.state };
    }),
    Cancel: unaryHandler((r) => core.cancel(r.job)),
    Checkpoint: unaryHandler((r) => core.checkpoint(r.job)),
    Drain: unaryHandler((r) => core.drain(r.node, r.undo)),
    ListImages: unaryHandler((r) => ({ images: core.listImages(r.job) })),
  };
}

/** Binds the service; resolves with the port it listens on (useful with port 0). */
export function listen(core: SchedulerCore, host: string, port: number): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  server.addService(schedulerService(), handlers(core) as unknown as grpc.UntypedServiceImplementation);
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (err) reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
      else resolve({ server, port: bound });
    });
  });
}
