// How a client proves who it is: a bearer token in every call's metadata (users, admins, and
// agents on a loopback scheduler without TLS), and with a CA the channel is TLS, verifying the
// scheduler's certificate; an agent that joined adds its client certificate (mutual TLS).
import * as grpc from '@grpc/grpc-js';

export interface ClientCredentials {
  token?: string | undefined;
  /** PEM of the cluster CA: use TLS and trust only certificates it signed. */
  ca?: string | undefined;
  /** An agent's client key and certificate (PEM). */
  key?: string | undefined;
  cert?: string | undefined;
  /** Instead of key and cert: an agent's identity that renewal replaces while channels are open. */
  identity?: AgentIdentity | undefined;
}

type IdentityUpdate = { certificate: Buffer; privateKey: Buffer };

/**
 * An agent's client key and certificate as a grpc-js certificate provider: when the agent
 * renews its certificate, connections made from then on present the new one (connections
 * already open keep the one they were made with, valid until it expires).
 */
export class AgentIdentity {
  #update: IdentityUpdate;
  readonly #listeners = new Set<(u: IdentityUpdate) => void>();

  constructor(key: string, cert: string) {
    this.#update = { certificate: Buffer.from(cert), privateKey: Buffer.from(key) };
  }

  get cert(): string {
    return this.#update.certificate.toString();
  }

  replace(key: string, cert: string): void {
    this.#update = { certificate: Buffer.from(cert), privateKey: Buffer.from(key) };
    for (const listener of this.#listeners) listener(this.#update);
  }

  addCaCertificateListener(): void {}
  removeCaCertificateListener(): void {}
  addIdentityCertificateListener(listener: (u: IdentityUpdate) => void): void {
    this.#listeners.add(listener);
    listener(this.#update);
  }
  removeIdentityCertificateListener(listener: (u: IdentityUpdate) => void): void {
    this.#listeners.delete(listener);
  }
}

function fixedCa(caPem: string): grpc.experimental.CertificateProvider {
  const update = { caCertificate: Buffer.from(caPem) };
  return {
    addCaCertificateListener: (listener: (u: typeof update) => void) => listener(update),
    removeCaCertificateListener: () => undefined,
    addIdentityCertificateListener: () => undefined,
    removeIdentityCertificateListener: () => undefined,
  } as unknown as grpc.experimental.CertificateProvider;
}

export function channelCredentials(c: ClientCredentials): grpc.ChannelCredentials {
  if (!c.ca) return grpc.credentials.createInsecure();
  if (c.identity) return grpc.experimental.createCertificateProviderChannelCredentials(fixedCa(c.ca), c.identity as unknown as grpc.experimental.CertificateProvider);
  return grpc.credentials.createSsl(Buffer.from(c.ca), c.key ? Buffer.from(c.key) : null, c.cert ? Buffer.from(c.cert) : null);
}

/** Adds the token to every call, unary or streaming. */
export function credentialInterceptor(c: ClientCredentials): grpc.Interceptor | null {
  if (!c.token) return null;
  const token = c.token;
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('authorization', `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}
