// The scheduler's HTTP/2 receive window. grpc-js 1.14's server keeps HTTP/2's default 64 KiB
// window on every connection and stream, with no option to raise it (grpc/grpc-node#3058, open;
// the client's `grpc-node.flow_control_window` is ignored by the server). With 64 KiB in flight
// an upload runs in lock-step: the agent sends 64 KiB and waits until the scheduler's JS thread,
// busy hashing and writing the previous chunk, has taken those bytes and granted more. Both sides
// then spend their CPU one after the other instead of at once, and more connections do not help
// (4 × 64 KiB is still less than one 1 MiB chunk). So every session the server accepts is given
// a larger window through Node's own http2 API (`setLocalWindowSize` for the connection,
// `settings({ initialWindowSize })` for its streams); the one thing taken from grpc-js's
// internals is where its http2 servers are (its `http2Servers` map), checked at run time.
import type http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';

/** Bytes the agent may have in flight on one connection / one stream: a few chunks. */
export const SERVER_RECEIVE_WINDOW_BYTES = 16 << 20;

/**
 * Raises the receive window of every session `server` accepts from now on (call it once the
 * server is bound, before clients know its port). Returns false when this grpc-js does not keep
 * its http2 servers where 1.14 does: the server then works with the default window, slower.
 */
export function raiseReceiveWindow(server: grpc.Server, bytes = SERVER_RECEIVE_WINDOW_BYTES): boolean {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) return false;
  for (const [http2Server, info] of servers as Map<http2.Http2Server, { sessions?: Set<http2.ServerHttp2Session> }>) {
    if (typeof http2Server?.on !== 'function') return false;
    http2Server.on('session', (session: http2.ServerHttp2Session) => widen(session, bytes));
    for (const session of info?.sessions ?? []) widen(session, bytes);
  }
  return true;
}

function widen(session: http2.ServerHttp2Session, bytes: number): void {
  if (session.destroyed) return;
  try {
    session.setLocalWindowSize(bytes);
    session.settings({ initialWindowSize: bytes });
  } catch {
    // A session closing as it opens: nothing to widen.
  }
}
