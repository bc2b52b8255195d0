// Loads scheduler/proto/cr.proto at run time with exactly the options its TypeScript types were
// generated with (package.json "proto" script): camelCase fields, 64-bit integers as numbers,
// enums as strings, defaults filled in, oneof names set. A mismatch between the two would let a
// field arrive silently empty, which is why both are fixed here and nowhere else.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { channelCredentials, credentialInterceptor, type ClientCredentials } from '../credentials.js';
import type { ProtoGrpcType } from './generated/cr.js';
import type { SchedulerClient } from './generated/cr/v1/Scheduler.js';
import type * as T from './types.js';

export type { SchedulerClient, SchedulerHandlers } from './generated/cr/v1/Scheduler.js';

// From dist/scheduler/proto/ (compiled) or scheduler/proto/ (source) to the package's .proto.
const PROTO_FILE = fileURLToPath(new URL('../../../scheduler/proto/cr.proto', import.meta.url));

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Image chunks: ~1 MiB, well under grpc-js's 4 MiB receive limit. */
export const CHUNK_BYTES = 1 << 20;
/** Messages up to this size are accepted (job code can be a few MiB). */
export const MAX_MESSAGE_BYTES = 64 << 20;

let loaded: ProtoGrpcType | null = null;

export function proto(): ProtoGrpcType {
  if (loaded === null) {
    const definition = protoLoader.loadSync(PROTO_FILE, LOADER_OPTIONS);
    fastChunks(definition['cr.v1.Scheduler'] as grpc.ServiceDefinition);
    loaded = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
  }
  return loaded;
}

/**
 * The encoding of a message whose one field is `bytes` field number `field`: byte for byte what
 * protobufjs writes, with one copy into one new buffer. protobufjs's writer costs a second
 * buffer and copy per 1 MiB chunk, on top of the one grpc-js makes to frame the message; on a
 * 2-core machine those copies and their garbage are a good part of an image transfer's CPU.
 */
export function bytesMessage(field: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(BYTES_FIELD_HEAD + data.length);
  out.set(data, BYTES_FIELD_HEAD);
  return encodeBytesField(field, out, BYTES_FIELD_HEAD, data.length);
}

/** Room before a `bytes` field's data for its tag and length (a varint of up to 32 bits). */
export const BYTES_FIELD_HEAD = 6;

/**
 * A message whose one field is `bytes` field number `field`, encoded in place: its `length`
 * bytes of data already sit at `start` in `buffer` (start ≥ BYTES_FIELD_HEAD), and the tag and
 * length are written just before them. Returns the message: a view of `buffer`, no copy.
 */
export function encodeBytesField(field: number, buffer: Buffer, start: number, length: number): Buffer {
  let varint = 1;
  for (let v = length; v >= 0x80; v >>>= 7) varint++;
  let i = start - varint - 1;
  if (i < 0) throw new RangeError(`encodeBytesField needs ${varint + 1} bytes before the data, start is ${start}`);
  if (start + length > buffer.length) throw new RangeError(`encodeBytesField: ${length} bytes from ${start} pass the end of a ${buffer.length}-byte buffer`);
  const first = i;
  buffer[i++] = (field << 3) | 2;
  let v = length;
  for (; v >= 0x80; v >>>= 7) buffer[i++] = (v & 0x7f) | 0x80;
  buffer[i] = v;
  return buffer.subarray(first, start + length);
}

/**
 * A message already in its wire encoding (encodeBytesField): the serializer hands its bytes to
 * grpc-js as they are. So an image chunk is read from its file once, into the buffer it is sent
 * from, and grpc-js's framing is the only copy on the way out.
 */
export class Encoded {
  constructor(readonly bytes: Buffer) {}
}

/** Image chunks (UploadImageMessage.chunk = 2, ImageChunk.data = 1) skip protobufjs's writer; every other message goes through it. */
function fastChunks(service: grpc.ServiceDefinition): void {
  const upload = service.UploadImage!;
  const plainUpload = upload.requestSerialize;
  upload.requestSerialize = (m: { chunk?: unknown; header?: unknown; trailer?: unknown }) =>
    m instanceof Encoded ? m.bytes : m.chunk instanceof Uint8Array && m.header == null && m.trailer == null ? bytesMessage(2, m.chunk) : plainUpload(m);
  const download = service.DownloadImage!;
  const plainDownload = download.responseSerialize;
  download.responseSerialize = (m: { data?: unknown }) =>
    m instanceof Encoded ? m.bytes : m.data instanceof Uint8Array && Object.keys(m).length === 1 ? bytesMessage(1, m.data) : plainDownload(m);
}

export function schedulerService(): grpc.ServiceDefinition {
  return proto().cr.v1.Scheduler.service;
}

export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  // Notice a dead peer on an idle connection within seconds, not the OS's hours.
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
};

export function schedulerClient(address: string, credentials: ClientCredentials = {}): SchedulerClient {
  const Client = proto().cr.v1.Scheduler;
  const interceptor = credentialInterceptor(credentials);
  return new Client(address, channelCredentials(credentials), { ...CHANNEL_OPTIONS, ...(interceptor ? { interceptors: [interceptor] } : {}) });
}

/** The unary RPCs with their request and reply types, so that every call is type-checked. */
export interface UnaryRpcs {
  Heartbeat: [T.HeartbeatRequest, T.HeartbeatReply__Output];
  GetCode: [T.GetCodeRequest, T.GetCodeReply__Output];
  Report: [T.ReportRequest, T.AttemptReply__Output];
  Finish: [T.FinishRequest, T.AttemptReply__Output];
  Submit: [T.SubmitRequest, T.JobInfo__Output];
  GetJob: [T.JobRef, T.JobInfo__Output];
  ListJobs: [T.ListJobsRequest, T.ListJobsReply__Output];
  ListNodes: [T.ListNodesRequest, T.ListNodesReply__Output];
  GetLogs: [T.GetLogsRequest, T.GetLogsReply__Output];
  Cancel: [T.JobRef, T.JobInfo__Output];
  Checkpoint: [T.JobRef, T.JobInfo__Output];
  Drain: [T.DrainRequest, T.NodeInfo__Output];
  ListImages: [T.JobRef, T.ListImagesReply__Output];
  DeleteImages: [T.JobRef, T.ListImagesReply__Output];
  Join: [T.JoinRequest, T.JoinReply__Output];
  CreateToken: [T.CreateTokenRequest, T.TokenInfo__Output];
  ListTokens: [T.ListTokensRequest, T.ListTokensReply__Output];
  RevokeToken: [T.RevokeTokenRequest, T.TokenInfo__Output];
  Renew: [T.RenewRequest, T.JoinReply__Output];
  RevokeNode: [T.RevokeNodeRequest, T.RevokeNodeReply__Output];
}

/**
 * Connections an agent opens for images (each a channel of its own, with its own HTTP/2
 * connection); an upload of an image of at least two parts' worth goes as that many parts at
 * once. Parallel parts were a way around grpc-js's 64 KiB server window; now that the scheduler
 * raises it (scheduler/server/window.ts) one stream is faster than several: the scheduler is
 * single-threaded either way, and parts cost it a second sha256 pass over the assembled image
 * (more scheduler CPU per MiB with two or four parts than with one).
 * A client raises its own receive window, which a download is limited by.
 */
export const TRANSFER_LANES = 1;
export const CLIENT_RECEIVE_WINDOW_BYTES = 16 << 20;

export function transferClients(address: string, credentials: ClientCredentials = {}, lanes = TRANSFER_LANES): SchedulerClient[] {
  const Client = proto().cr.v1.Scheduler;
  const interceptor = credentialInterceptor(credentials);
  return Array.from({ length: lanes }, () => {
    return new Client(address, channelCredentials(credentials), {
      ...CHANNEL_OPTIONS,
      // A local subchannel pool: a connection of this channel's own, shared with no other.
      'grpc.use_local_subchannel_pool': 1,
      'grpc-node.flow_control_window': CLIENT_RECEIVE_WINDOW_BYTES,
      // No retry buffer: grpc-js calls a write back only once HTTP/2 took the message, so the
      // agent may reuse a chunk's buffer then (a queued copy for a retry would still point at it).
      // An upload that fails is retried whole by the agent, never replayed by grpc-js.
      'grpc.per_rpc_retry_buffer_size': 0,
      ...(interceptor ? { interceptors: [interceptor] } : {}),
    });
  });
}

/**
 * The calls that change nothing: any scheduler answers them, a standby included (it reads the
 * shared database); every other call is the leader's. The server refuses the rest on a standby
 * and clients send them to the leader, both by this one list.
 */
export const READ_RPCS: ReadonlySet<string> = new Set<keyof UnaryRpcs>(['GetJob', 'ListJobs', 'ListNodes', 'GetLogs', 'ListImages', 'ListTokens', 'GetCode']);

/** A unary call as a promise, with a deadline: `await unary(client, 'GetJob', { job: 3 })`. */
export function unary<K extends keyof UnaryRpcs>(client: SchedulerClient, method: K, request: UnaryRpcs[K][0], deadlineMs = 10_000): Promise<UnaryRpcs[K][1]> {
  type Fn = (r: UnaryRpcs[K][0], o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: UnaryRpcs[K][1]) => void) => void;
  const fn = (client as unknown as Record<K, Fn>)[method];
  return new Promise((resolve, reject) => {
    fn.call(client, request, { deadline: Date.now() + deadlineMs }, (err, value) => (err ? reject(err) : resolve(value)));
  });
}
