// Who is asking, on the dashboard: the token a person signed in with, kept in a cookie the page's
// scripts cannot read (HttpOnly), sent only to this origin (SameSite=Strict) and only over TLS
// when the listener has it (Secure, and the __Host- prefix that forbids a Domain). The token is
// checked by the scheduler's Authenticator on every request, so a revoked or expired token
// ends the session at once. It is never put in a URL.
//
// State-changing requests also carry a CSRF token in a header: an HMAC of the token's public id
// under a key made at start, which the page learns from /api/session (readable only with the
// cookie, same origin). A cross-site form cannot set the header, and cannot read the value.
import crypto from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuthError, type Authenticator, type Caller } from '../server/auth.js';

export const CSRF_HEADER = 'x-csrf-token';

export interface SessionOptions {
  auth: Authenticator;
  /** The listener speaks TLS: the cookie is Secure and __Host-. */
  tls: boolean;
}

export class Sessions {
  readonly cookie: string;
  readonly #auth: Authenticator;
  readonly #tls: boolean;
  readonly #csrfKey = crypto.randomBytes(32);

  constructor(options: SessionOptions) {
    this.#auth = options.auth;
    this.#tls = options.tls;
    this.cookie = options.tls ? '__Host-cr-session' : 'cr-session';
  }

  /** The Set-Cookie value that signs in with `token` (or, with null, signs out). */
  setCookie(token: string | null): string {
    const attributes = ['Path=/', 'HttpOnly', 'SameSite=Strict', ...(this.#tls ? ['Secure'] : [])];
    if (token === null) return [`${this.cookie}=`, 'Max-Age=0', ...attributes].join('; ');
    return [`${this.cookie}=${token}`, ...attributes].join('; ');
  }

  /** The caller a token signs in as; throws AuthError (unknown, expired, revoked, or an agent's). */
  signIn(token: string): Promise<Caller> {
    return this.#auth.personCaller(token.trim());
  }

  /** The caller of a request by its cookie; throws AuthError when there is none or it is no longer valid. */
  async caller(request: FastifyRequest): Promise<Caller> {
    const token = cookieValue(request.headers.cookie, this.cookie);
    if (token === null || token === '') throw new AuthError('UNAUTHENTICATED', 'not signed in: sign in with a user or admin token');
    return this.#auth.personCaller(token);
  }

  csrf(caller: Caller): string {
    return crypto.createHmac('sha256', this.#csrfKey).update(`csrf ${caller.token ?? ''}`).digest('base64url');
  }

  /** Throws AuthError unless the request carries this caller's CSRF token. */
  checkCsrf(request: FastifyRequest, caller: Caller): void {
    const sent = request.headers[CSRF_HEADER];
    const want = Buffer.from(this.csrf(caller));
    const got = Buffer.from(typeof sent === 'string' ? sent : '');
    if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) {
      throw new AuthError('PERMISSION_DENIED', `missing or wrong ${CSRF_HEADER} header: reload the page`);
    }
  }
}

/** A cookie's value from a Cookie header; null when absent. */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** Answers a refusal as JSON: 401 not signed in (or no longer), 403 not allowed. */
export function refuse(reply: FastifyReply, err: AuthError): FastifyReply {
  return reply.code(err.status === 'UNAUTHENTICATED' ? 401 : 403).send({ error: err.message });
}
