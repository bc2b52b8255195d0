// Who may call what: the one table of roles and RPCs, and how a call's caller is established.
// A caller is an agent by its client certificate (mutual TLS, signed by the cluster CA, serial
// not revoked), and the node is the certificate's name; an `agent` token only joins under TLS.
// On loopback without TLS an agent token is bound to the node it first connects as, and that
// binding, never a header, names the node. A user or admin is a token sent as
// `authorization: Bearer <token>` metadata. A refusal names its reason and what to do, is
// logged with the token's public id (never its secret), and nothing else happens.
import type * as grpc from '@grpc/grpc-js';
import type { NodeIdentity } from './node-identity.js';
import { AGENT_OU } from './pki.js';
import { TokenRefusal, type Role, type TokenRow, type Tokens } from './tokens.js';

const AGENT_RPCS = ['Connect', 'Heartbeat', 'GetCode', 'DownloadImage', 'UploadImage', 'Report', 'Finish', 'Renew'] as const;
const USER_RPCS = ['Submit', 'GetJob', 'ListJobs', 'ListNodes', 'GetLogs', 'Cancel', 'Checkpoint', 'ListImages', 'DeleteImages'] as const;
const ADMIN_RPCS = [...USER_RPCS, 'Drain', 'CreateToken', 'ListTokens', 'RevokeToken', 'RevokeNode'] as const;

/** Role → the RPCs it may call. `Join` is the one RPC an agent token serves under TLS. */
export const ALLOWED: Readonly<Record<Role, ReadonlySet<string>>> = {
  agent: new Set<string>([...AGENT_RPCS, 'Join']),
  user: new Set<string>(USER_RPCS),
  admin: new Set<string>(ADMIN_RPCS),
};

/** The lowest role that may call `method`, for messages. */
function neededRole(method: string): string {
  const roles = (Object.keys(ALLOWED) as Role[]).filter((r) => ALLOWED[r].has(method));
  return roles.length > 0 ? roles.join(' or ') : 'no role';
}

/** What the guard sees of any call (unary or streaming). */
export interface CallContext {
  metadata: grpc.Metadata;
  getPeer(): string;
  getAuthContext?(): { sslPeerCertificate?: { subject?: Record<string, unknown>; serialNumber?: string } };
  emit(event: 'error', status: Partial<grpc.StatusObject>): boolean;
}

export interface Caller {
  role: Role;
  /**
   * The node an agent proved to be: its certificate's name, or (loopback) the node its token is
   * bound to; null for an agent token not bound yet (it may only Connect, which binds it).
   */
  node: string | null;
  /** The token's public id, for a caller that came with a token. */
  token: string | null;
  /** How it authenticated, for logs and events: `token <id>` or `certificate of <node>`. */
  via: string;
}

export class AuthError extends Error {
  constructor(
    readonly status: 'UNAUTHENTICATED' | 'PERMISSION_DENIED',
    message: string,
  ) {
    super(message);
  }
}

export const TOKEN_HINT = 'pass a token with --token-file FILE or CR_TOKEN (an admin creates one with "cr-scheduler token create --role user")';

function peerCertificate(call: CallContext): { node: string; serial: string } | null {
  // getAuthContext() only reports a peer certificate that TLS verified against the cluster CA
  // (signature and validity dates, checked when the connection was made).
  const peer = call.getAuthContext?.().sslPeerCertificate;
  if (!peer || peer.subject?.OU !== AGENT_OU || typeof peer.subject.CN !== 'string') return null;
  return { node: peer.subject.CN as string, serial: String(peer.serialNumber ?? '') };
}

function bearer(metadata: grpc.Metadata): string | null {
  const values = metadata.get('authorization');
  if (values.length === 0) return null;
  const value = String(values[0]);
  return value.startsWith('Bearer ') ? value.slice(7).trim() : value.trim();
}

export interface AuthenticatorOptions {
  tokens: Tokens;
  identity: NodeIdentity;
  /** Whether the scheduler listens with TLS: then agent tokens only join. */
  tls: boolean;
  log: (line: string) => void;
}

export class Authenticator {
  readonly #tokens: Tokens;
  readonly #identity: NodeIdentity;
  readonly #tls: boolean;
  readonly #log: (line: string) => void;

  constructor(options: AuthenticatorOptions) {
    this.#tokens = options.tokens;
    this.#identity = options.identity;
    this.#tls = options.tls;
    this.#log = options.log;
  }

  /** Logs a refusal decided elsewhere (a node speaking for another, a user acting on another's job). */
  refused(method: string, call: CallContext, err: AuthError): void {
    this.#log(`refused ${method} from ${call.getPeer()}: ${err.status}: ${err.message}`);
  }

  /**
   * Loopback without TLS: the first Connect of an agent token binds it to its node name, for
   * good. A token bound to another name is refused, and so is a name that another agent,
   * with another token, holds connected (`holder`: the token id of the agent connected as
   * `node`, or null). Under TLS the certificate already named the node.
   */
  async connectAs(caller: Caller, node: string, holder: string | null): Promise<Caller> {
    if (caller.role !== 'agent' || caller.token === null) return caller;
    if (caller.node !== null && caller.node !== node) {
      throw new AuthError('PERMISSION_DENIED', `agent token ${caller.token} is bound to node ${caller.node}: it cannot connect as node ${JSON.stringify(node.slice(0, 100))} (use --name ${caller.node}, or ask an admin for a new agent token)`);
    }
    if (holder !== null && holder !== caller.token) {
      throw new AuthError('PERMISSION_DENIED', `node name ${JSON.stringify(node.slice(0, 100))} is held by another connected agent (token ${holder}): choose another --name, or stop that agent first`);
    }
    if (caller.node === null) {
      await this.#identity.bind(caller.token, node);
      this.#log(`agent token ${caller.token} bound to node ${node}`);
    }
    return { ...caller, node, via: `token ${caller.token} of node ${node}` };
  }

  /** The caller of `method`, if it may call it; throws AuthError (logged) otherwise. */
  async check(method: string, call: CallContext): Promise<Caller> {
    const peer = call.getPeer();
    try {
      const caller = await this.#identify(method, call);
      if (!ALLOWED[caller.role].has(method)) {
        throw new AuthError('PERMISSION_DENIED', `${method} needs the role ${neededRole(method)}; this call came with the role ${caller.role} (${caller.via}): use a credential of that role`);
      }
      if (caller.role === 'agent' && caller.token !== null) this.#agentToken(method, caller);
      return caller;
    } catch (err) {
      if (err instanceof AuthError) this.#log(`refused ${method} from ${peer}: ${err.status}: ${err.message}`);
      throw err;
    }
  }

  async #identify(method: string, call: CallContext): Promise<Caller> {
    const token = bearer(call.metadata);
    const cert = peerCertificate(call);
    if (cert !== null && (token === null || method !== 'Join')) {
      const revokedAt = await this.#identity.revokedAt(cert.serial);
      if (revokedAt > 0) {
        throw new AuthError('UNAUTHENTICATED', `the certificate of node ${cert.node} (serial ${cert.serial}) was revoked at ${new Date(revokedAt).toISOString()}: the node joins again with a new agent token (remove <work>/tls/ on it first)`);
      }
      return { role: 'agent', node: cert.node, token: null, via: `certificate of ${cert.node}` };
    }
    if (token === null) throw new AuthError('UNAUTHENTICATED', `no credentials: ${TOKEN_HINT}`);
    const row = await this.#verify(token);
    if (row.role !== 'agent') return this.#person(row);
    const node = this.#tls ? null : ((await this.#identity.boundNode(row.id)) ?? null);
    return { role: 'agent', node, token: row.id, via: node === null ? `token ${row.id}` : `token ${row.id} of node ${node}` };
  }

  /**
   * A person's caller from a bearer token that came another way than gRPC metadata (the
   * dashboard's cookie): user or admin only; an agent token is refused. Throws AuthError.
   */
  async personCaller(token: string): Promise<Caller> {
    const row = await this.#verify(token);
    if (row.role === 'agent') throw new AuthError('PERMISSION_DENIED', `token ${row.id} is an agent token: sign in with a user or admin token`);
    return this.#person(row);
  }

  async #verify(token: string): Promise<TokenRow> {
    try {
      return await this.#tokens.verify(token);
    } catch (err) {
      if (err instanceof TokenRefusal) throw new AuthError('UNAUTHENTICATED', err.message);
      throw err;
    }
  }

  #person(row: TokenRow): Caller {
    return { role: row.role, node: null, token: row.id, via: `token ${row.id} (${row.role}${row.label ? ` "${row.label}"` : ''})` };
  }

  /** What an agent token may do: under TLS only join; on loopback, once bound (by its first Connect), act as its node. */
  #agentToken(method: string, caller: Caller): void {
    if (this.#tls && method !== 'Join') {
      throw new AuthError('PERMISSION_DENIED', `agent ${caller.via} only joins (Join) on a scheduler with TLS: ${method} needs the agent's client certificate, which it gets by joining (cr-scheduler agent --ca …)`);
    }
    if (caller.node === null && method !== 'Connect' && method !== 'Join') {
      throw new AuthError('PERMISSION_DENIED', `agent token ${caller.token} is not bound to a node yet: its first Connect binds it to its node name`);
    }
  }
}
