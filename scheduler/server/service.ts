// The gRPC face of the scheduler: binds the service of cr.proto to SchedulerCore. Refusals
// become gRPC statuses whose details say what to do; streams respect back-pressure.
import * as grpc from '@grpc/grpc-js';
import { ChunkBuffers, ChunkedFile, ChunkReader } from '../file-chunks.js';
import { CHANNEL_OPTIONS, Encoded, READ_RPCS, encodeBytesField, schedulerService, type SchedulerHandlers } from '../proto/load.js';
import type { Command, ImageChunk, JobInfo, UploadImageMessage__Output } from '../proto/types.js';
import { AuthError, type Authenticator, type CallContext, type Caller } from './auth.js';
import type { CommandSink } from './leases.js';
import { NotLeaderError, type Leadership } from './leadership.js';
import type { NodeIdentity } from './node-identity.js';
import { checkNodeName } from './node-sessions.js';
import type { ClusterCa, ServerTls } from './pki.js';
import { SchedulerCore, SchedulerError } from './scheduler.js';
import { isStorageError, STORAGE_FULL } from './storage.js';
import { isRole, type TokenRow, type Tokens } from './tokens.js';
import { raiseReceiveWindow } from './window.js';

/** What the service needs to authenticate callers; `ca` is null when it listens without TLS. */
export interface Security {
  auth: Authenticator;
  tokens: Tokens;
  identity: NodeIdentity;
  ca: ClusterCa | null;
  log: (line: string) => void;
}

/** Messages may quote what the caller sent: a hostile megabyte-long name is cut, not echoed. */
function short(message: string): string {
  return message.length <= 500 ? message : `${message.slice(0, 480)}… (${message.length} characters)`;
}

/** Trailing metadata of a standby's refusal: where the leader is, for clients that follow it. */
export const LEADER_METADATA = 'cr-leader';

function toStatus(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof NotLeaderError) {
    const metadata = new grpc.Metadata();
    if (err.leader !== null) metadata.set(LEADER_METADATA, err.leader);
    return { code: grpc.status.UNAVAILABLE, details: err.message, metadata };
  }
  if (isStorageError(err)) return { code: grpc.status.UNAVAILABLE, details: short(`${STORAGE_FULL}: ${(err as Error).message}`) };
  if (err instanceof SchedulerError || err instanceof AuthError) return { code: grpc.status[err.status], details: short(err.message) };
  if (err instanceof TypeError) return { code: grpc.status.INVALID_ARGUMENT, details: short(err.message) };
  return { code: grpc.status.INTERNAL, details: short((err as Error)?.message ?? String(err)) };
}

/** A unary handler around a core method, given the request and its caller. */
function unaryHandler<Req, Res>(fn: (request: Req, caller: Caller) => Res | Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    (async () => fn(call.request, callerOf(call)))().then(
      (reply) => callback(null, reply),
      (err) => callback(toStatus(err) as grpc.ServiceError),
    );
  };
}

function tokenInfo(row: TokenRow & { token?: string }): Record<string, unknown> {
  return { id: row.id, role: row.role, label: row.label, createdAt: row.createdAt, expiresAt: row.expiresAt, revokedAt: row.revokedAt, token: row.token ?? '' };
}

/** The caller of each call, set by the guard before a handler runs. */
const callers = new WeakMap<object, Caller>();

function callerOf(call: object): Caller {
  return callers.get(call)!;
}

/**
 * Runs every handler behind Authenticator.check, so no RPC can forget it; refusals end the call
 * with their status before the handler sees the request. An agent that proved its node name
 * may speak only for that node.
 */
function guard(plain: SchedulerHandlers, auth: Authenticator, leadership: Leadership): SchedulerHandlers {
  const guarded: Record<string, unknown> = {};
  for (const [method, fn] of Object.entries(plain) as [string, (call: CallContext, callback?: (e: unknown) => void) => void][]) {
    guarded[method] = (call: CallContext & { request?: { node?: unknown } }, callback?: (e: unknown) => void) => {
      void (async () => {
        try {
          if (!READ_RPCS.has(method)) leadership.mustLead();
          const caller = await auth.check(method, call);
          const claimed = call.request?.node;
          if (caller.role === 'agent' && caller.node !== null && typeof claimed === 'string' && method !== 'Join' && claimed !== caller.node) {
            throw new AuthError('PERMISSION_DENIED', `this agent is node ${caller.node}: it cannot speak for node ${JSON.stringify(claimed)}`);
          }
          callers.set(call, caller);
        } catch (err) {
          if (typeof callback === 'function') callback(toStatus(err));
          else call.emit('error', toStatus(err));
          return;
        }
        fn(call, callback);
      })();
    };
  }
  return guarded as unknown as SchedulerHandlers;
}

export function handlers(core: SchedulerCore, security: Security): SchedulerHandlers {
  const { tokens, identity, ca, log, auth } = security;
  /** The agent token each connected node came with (loopback): whose the name is right now. */
  const holders = new Map<string, { sink: CommandSink; token: string | null }>();
  /** Names being joined right now: two Joins for one name must not both get a certificate. */
  const joining = new Set<string>();
  const issue = async (node: string, publicKeyPem: string): Promise<{ certificatePem: string; caPem: string }> => {
    const cert = await ca!.agentCertificate(node, publicKeyPem);
    await identity.recordCertificate(cert.serial, node, cert.expiresAt);
    return { certificatePem: cert.pem, caPem: ca!.caPem };
  };
  const owner = async (caller: Caller) => (caller.token === null ? null : { token: caller.token, label: (await tokens.get(caller.token))?.label ?? '' });
  return guard({
    async Connect(call) {
      const node = call.request.node;
      const holder = holders.get(node);
      try {
        const connected = holder !== undefined && core.leases.get(node)?.sink === holder.sink;
        callers.set(call, await auth.connectAs(callerOf(call), node, connected ? holder.token : null));
      } catch (err) {
        if (err instanceof AuthError) auth.refused('Connect', call, err);
        call.emit('error', toStatus(err));
        return;
      }
      const sink: CommandSink = {
        write: (command: Command) => {
          if (!call.writableEnded && !call.destroyed) call.write(command);
        },
        end: () => {
          if (!call.writableEnded && !call.destroyed) call.end();
        },
      };
      const gone = (): void => {
        if (holders.get(node)?.sink === sink) holders.delete(node);
        core.disconnected(node, sink);
      };
      call.on('cancelled', gone);
      call.on('close', gone);
      call.on('error', gone);
      // Held before the first await of connect: a second Connect for the name sees this one.
      holders.set(node, { sink, token: callerOf(call).token });
      try {
        await core.connect(call.request, sink);
      } catch (err) {
        if (holders.get(node)?.sink === sink) holders.delete(node);
        call.emit('error', toStatus(err));
      }
    },
    Heartbeat: unaryHandler(async (r) => ({ known: await core.heartbeat(r.node, r.session, Date.now(), r.draining) })),
    GetCode: unaryHandler(async (r) => ({ code: await core.code(r.sha256) })),
    Report: unaryHandler(async (r, caller) => {
      await core.attempts.check(caller, 'Report', r.job, r.attempt, r.secret);
      return { stale: !(await core.report(r)) };
    }),
    Finish: unaryHandler(async (r, caller) => {
      await core.attempts.check(caller, 'Finish', r.job, r.attempt, r.secret);
      return { stale: !(await core.finish(r)) };
    }),
    UploadImage(call, callback) {
      const iterator = (call as AsyncIterable<UploadImageMessage__Output>)[Symbol.asyncIterator]();
      void (async () => {
        const first = await iterator.next();
        const header = first.done ? undefined : first.value.header;
        if (!header) throw new SchedulerError('INVALID_ARGUMENT', 'an upload starts with its header');
        const caller = callerOf(call);
        if (caller.node !== null && header.node !== caller.node) throw new AuthError('PERMISSION_DENIED', `this agent is node ${caller.node}: it cannot upload for node ${JSON.stringify(header.node.slice(0, 100))}`);
        await core.attempts.check(caller, 'UploadImage', header.job, header.attempt, header.secret);
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
        (result) => {
          // A limit the upload passed ends the call with its status; other refusals are replies.
          if (!result.accepted && result.status) callback(toStatus(new SchedulerError(result.status, result.reason)) as grpc.ServiceError);
          else callback(null, result.accepted ? { accepted: true } : { accepted: false, stale: result.stale, reason: result.reason });
        },
        (err) => callback(toStatus(err) as grpc.ServiceError),
      );
    },
    DownloadImage(call) {
      void (async () => {
        // Only the node that runs the job's current attempt reads its images: a job cannot read another's.
        const caller = callerOf(call);
        await core.attempts.check(caller, 'DownloadImage', call.request.job, call.request.attempt, call.request.secret);
        const job = await core.jobs.get(call.request.job);
        if (job === undefined || job.state !== 'running' || job.attempt !== call.request.attempt) {
          throw new AuthError('PERMISSION_DENIED', `attempt ${call.request.attempt} of job ${call.request.job} is not running: only the node running a job may read its images`);
        }
        const file = await ChunkedFile.open(await core.imageFile(call.request.job, call.request.sequence));
        const downloaded = core.metrics.downloadDuration.startTimer();
        try {
          // A byte range (a parallel download asks for several at once); length 0: to the end.
          const { size } = file;
          const { offset, length } = call.request;
          if (offset > size || (length > 0 && offset + length > size)) {
            throw new SchedulerError('INVALID_ARGUMENT', `bytes ${offset}–${offset + length} are not inside image ${call.request.sequence} of job ${call.request.job} (${size} bytes)`);
          }
          const end = length > 0 ? offset + length : size;
          const cancelled = new Promise<void>((resolve) => call.once('cancelled', () => resolve()));
          // Chunk buffers reused once grpc-js has framed each (its write callback), read ahead.
          const buffers = new ChunkBuffers(file.direct, cancelled, () => call.cancelled);
          const chunks = new ChunkReader(file, buffers, offset, end);
          for (;;) {
            const chunk = await chunks.next();
            if (chunk === null || call.cancelled) break;
            const { buffer, at, bytes } = chunk;
            core.metrics.downloadBytes.inc(bytes);
            if (!call.write(new Encoded(encodeBytesField(1, buffer, at, bytes)) as unknown as ImageChunk, () => buffers.give(buffer))) {
              await Promise.race([new Promise((resolve) => call.once('drain', resolve)), cancelled]);
            }
          }
        } finally {
          downloaded();
          await file.close();
        }
        call.end();
      })().catch((err) => call.emit('error', toStatus(err)));
    },
    Submit: unaryHandler(async (r, caller) => core.submit(r, await owner(caller))),
    GetJob: unaryHandler(async (r, caller) => {
      await core.owners.check(caller, 'see', r.job);
      return core.jobInfo(await core.job(r.job));
    }),
    ListJobs: unaryHandler(async (r, caller) => {
      // Without --all: the jobs the caller may act on. With it: everyone's, read-only, without what others' code produced.
      const scope = core.owners.scope(caller);
      if (scope === 'none' && !r.all) return { jobs: [], more: false };
      const listed = await core.jobs.listed(r.states, r.all || scope === 'none' ? null : scope.token, r.limit);
      const jobs: JobInfo[] = [];
      for (const j of listed.jobs) {
        const info = await core.jobInfo(j.row, j);
        jobs.push(core.owners.ownsBy(caller, j.owner?.token) ? info : { ...info, resultJson: '', errorJson: '', message: '' });
      }
      return { jobs, more: listed.more };
    }),
    ListNodes: unaryHandler(async () => ({ nodes: await core.listNodes(), storage: core.storage.status })),
    GetLogs: unaryHandler(async (r, caller) => {
      await core.owners.check(caller, 'read the logs of', r.job);
      const job = await core.job(r.job);
      return { lines: await core.jobs.events(r.job, r.after), state: job.state };
    }),
    Cancel: unaryHandler(async (r, caller) => {
      await core.owners.check(caller, 'cancel', r.job);
      return core.cancel(r.job);
    }),
    Checkpoint: unaryHandler(async (r, caller) => {
      await core.owners.check(caller, 'checkpoint', r.job);
      return core.checkpoint(r.job);
    }),
    Drain: unaryHandler((r) => core.drain(r.node, r.undo)),
    ListImages: unaryHandler(async (r, caller) => {
      await core.owners.check(caller, 'list the images of', r.job);
      return { images: await core.listImages(r.job) };
    }),
    DeleteImages: unaryHandler(async (r, caller) => {
      await core.owners.check(caller, 'delete the images of', r.job);
      return { images: await core.deleteImages(r.job) };
    }),
    Join(call, callback) {
      const { node, publicKeyPem } = call.request;
      const caller = callerOf(call);
      void (async () => {
        if (ca === null) throw new SchedulerError('FAILED_PRECONDITION', 'this scheduler listens without TLS (loopback): agents use their token on every call, no certificate is needed');
        checkNodeName(node);
        // A name is joined once: while it holds a live certificate, a join token cannot get another.
        const live = await identity.liveCertificate(node);
        if (live !== undefined || joining.has(node)) {
          const err = new AuthError(
            'PERMISSION_DENIED',
            `node name ${node} already holds a live certificate${live ? ` (serial ${live.serial}, expires ${new Date(live.expiresAt).toISOString()})` : ''}: choose another --name, or an admin revokes it first (cr-scheduler node revoke ${node})`,
          );
          auth.refused('Join', call, err);
          throw err;
        }
        joining.add(node);
        try {
          const reply = await issue(node, publicKeyPem);
          log(`node ${node} joined with ${caller.via}: issued its client certificate`);
          return reply;
        } finally {
          joining.delete(node);
        }
      })().then(
        (reply) => callback(null, reply),
        (err) => callback(toStatus(err) as grpc.ServiceError),
      );
    },
    Renew(call, callback) {
      const caller = callerOf(call);
      void (async () => {
        // Only with the certificate being renewed: a token (even an agent's) cannot renew one.
        if (ca === null || caller.token !== null || caller.node === null) throw new AuthError('PERMISSION_DENIED', 'Renew needs the client certificate being renewed (mutual TLS)');
        const reply = await issue(caller.node, call.request.publicKeyPem);
        log(`node ${caller.node} renewed its client certificate`);
        return reply;
      })().then(
        (reply) => callback(null, reply),
        (err) => callback(toStatus(err) as grpc.ServiceError),
      );
    },
    RevokeNode: unaryHandler(async (r) => {
      checkNodeName(r.node);
      const revoked = await identity.revokeNode(r.node);
      if (revoked.certificates === 0 && revoked.tokens.length === 0 && (await core.nodes.get(r.node)) === undefined) {
        throw new SchedulerError('NOT_FOUND', `no node ${r.node}: "cr-scheduler nodes" lists them`);
      }
      let count = 0;
      for (const id of revoked.tokens) if ((await tokens.get(id))?.revokedAt === 0 && (await tokens.revoke(id))) count++;
      // Its session ends now; its calls are refused from now on, so its lease runs out and its jobs move.
      core.leases.get(r.node)?.sink?.end();
      log(`node ${r.node} revoked: ${revoked.certificates} certificate${revoked.certificates === 1 ? '' : 's'}, ${count} agent token${count === 1 ? '' : 's'}`);
      return { certificates: revoked.certificates, tokens: count };
    }),
    CreateToken: unaryHandler(async (r) => {
      if (!isRole(r.role)) throw new SchedulerError('INVALID_ARGUMENT', `role ${JSON.stringify(r.role.slice(0, 100))} is not one of agent, user, admin`);
      if (r.label.length > 200) throw new SchedulerError('INVALID_ARGUMENT', 'a token label has at most 200 characters');
      const row = await tokens.create(r.role, r.ttlS, r.label);
      log(`token ${row.id} (${row.role}${row.label ? `, "${row.label}"` : ''}) created`);
      return tokenInfo(row);
    }),
    ListTokens: unaryHandler(async () => ({ tokens: (await tokens.list()).map((row) => tokenInfo(row)) })),
    RevokeToken: unaryHandler(async (r) => {
      if (!/^[0-9a-f]{12}$/.test(r.id)) throw new SchedulerError('INVALID_ARGUMENT', `${JSON.stringify(r.id.slice(0, 100))} is not a token id: 12 hex digits, as "cr-scheduler token list" shows them`);
      const row = await tokens.revoke(r.id);
      if (row === undefined) throw new SchedulerError('NOT_FOUND', `no token ${r.id}: "cr-scheduler token list" shows them`);
      log(`token ${row.id} (${row.role}) revoked`);
      return tokenInfo(row);
    }),
  } as SchedulerHandlers, security.auth, core.leadership);
}

/** Binds the service; resolves with the port it listens on (useful with port 0). */
export function listen(core: SchedulerCore, security: Security, host: string, port: number, tls: ServerTls | null): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  server.addService(schedulerService(), handlers(core, security) as unknown as grpc.UntypedServiceImplementation);
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, serverCredentials(tls), (err, bound) => {
      if (err) reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
      else {
        // Every session from now on gets the larger window, and any already open (a client that
        // knew a fixed port) is widened too.
        raiseReceiveWindow(server);
        resolve({ server, port: bound });
      }
    });
  });
}

/**
 * TLS with an optional client certificate: agents present one (signed by the cluster CA, which
 * TLS verifies), users and admins do not and authenticate with tokens instead. grpc-js's
 * createSsl can only require or ignore client certificates, hence the certificate provider.
 */
export function serverCredentials(tls: ServerTls | null): grpc.ServerCredentials {
  if (tls === null) return grpc.ServerCredentials.createInsecure();
  const identity = { certificate: Buffer.from(tls.certPem), privateKey: Buffer.from(tls.keyPem) };
  const caUpdate = { caCertificate: Buffer.from(tls.caPem) };
  // Delivered in a microtask: grpc-js subscribes its watcher only after asking for listeners, so
  // not synchronously; and not on a later turn of the event loop either, since grpc-js resets
  // every connection that arrives before the certificates do, and a fast client can connect
  // as soon as the port is bound.
  const fixed = <U>(update: U) => ({
    addCaCertificateListener: (listener: (u: U) => void) => queueMicrotask(() => listener(update)),
    removeCaCertificateListener: () => undefined,
    addIdentityCertificateListener: (listener: (u: U) => void) => queueMicrotask(() => listener(update)),
    removeIdentityCertificateListener: () => undefined,
  });
  return grpc.experimental.createCertificateProviderServerCredentials(
    fixed(identity) as unknown as grpc.experimental.CertificateProvider,
    fixed(caUpdate) as unknown as grpc.experimental.CertificateProvider,
    false,
  );
}
