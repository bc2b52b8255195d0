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
}

export function channelCredentials(c: ClientCredentials): grpc.ChannelCredentials {
  if (!c.ca) return grpc.credentials.createInsecure();
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
