// Who may call what: the one table of roles and RPCs, and how a call's caller is established.
// A caller is an agent by its client certificate (mutual TLS, signed by the cluster CA) or by
// an `agent` token (loopback without TLS); a user or admin by a token sent as
// `authorization: Bearer <token>` metadata. A refusal names its reason and what to do, is
// logged with the token's public id (never its secret), and nothing else happens.
import type * as grpc from '@grpc/grpc-js';
import { AGENT_OU } from './pki.js';
import { TokenRefusal, type Role, type Tokens } from './tokens.js';

const AGENT_RPCS = ['Connect', 'Heartbeat', 'GetCode', 'DownloadImage', 'UploadImage', 'Report', 'Finish'] as const;
const USER_RPCS = ['Submit', 'GetJob', 'ListJobs', 'ListNodes', 'GetLogs', 'Cancel', 'Checkpoint', 'ListImages', 'DeleteImages'] as const;
const ADMIN_RPCS = [...USER_RPCS, 'Drain', 'CreateToken', 'ListTokens', 'RevokeToken'] as const;

/** Role → the RPCs it may call. `Join` is the one RPC an agent calls with its token over TLS. */
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
  getAuthContext?(): { sslPeerCertificate?: { subject?: Record<string, unknown> } };
  emit(event: 'error', status: Partial<grpc.StatusObject>): boolean;
}

export interface Caller {
  role: Role;
  /** The node an agent proved (certificate) or claimed (token on loopback) to be. */
  node: string | null;
  /** How it authenticated, for logs: `token <id>` or `certificate of <node>`. */
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

function certificateNode(call: CallContext): string | null {
  // getAuthContext() only reports a peer certificate that TLS verified against the cluster CA.
  const peer = call.getAuthContext?.().sslPeerCertificate;
  if (!peer || peer.subject?.OU !== AGENT_OU || typeof peer.subject.CN !== 'string') return null;
  return peer.subject.CN as string;
}

function bearer(metadata: grpc.Metadata): string | null {
  const values = metadata.get('authorization');
  if (values.length === 0) return null;
  const value = String(values[0]);
  return value.startsWith('Bearer ') ? value.slice(7).trim() : value.trim();
}

export class Authenticator {
  readonly #tokens: Tokens;
  readonly #log: (line: string) => void;

  constructor(tokens: Tokens, log: (line: string) => void) {
    this.#tokens = tokens;
    this.#log = log;
  }

  /** The caller of `method`, if it may call it; throws AuthError (logged) otherwise. */
  check(method: string, call: CallContext): Caller {
    const peer = call.getPeer();
    try {
      const caller = this.#identify(method, call);
      if (!ALLOWED[caller.role].has(method)) {
        throw new AuthError('PERMISSION_DENIED', `${method} needs the role ${neededRole(method)}; this call came with the role ${caller.role} (${caller.via}): use a credential of that role`);
      }
      return caller;
    } catch (err) {
      if (err instanceof AuthError) this.#log(`refused ${method} from ${peer}: ${err.status}: ${err.message}`);
      throw err;
    }
  }

  #identify(method: string, call: CallContext): Caller {
    const token = bearer(call.metadata);
    const node = certificateNode(call);
    if (node !== null && (token === null || method !== 'Join')) return { role: 'agent', node, via: `certificate of ${node}` };
    if (token === null) throw new AuthError('UNAUTHENTICATED', `no credentials: ${TOKEN_HINT}`);
    let row;
    try {
      row = this.#tokens.verify(token);
    } catch (err) {
      if (err instanceof TokenRefusal) throw new AuthError('UNAUTHENTICATED', err.message);
      throw err;
    }
    const claimed = call.metadata.get('cr-node');
    return { role: row.role, node: row.role === 'agent' && claimed.length > 0 ? String(claimed[0]) : null, via: `token ${row.id}` };
  }
}
