// The scheduler's HTTP/2 receive window, seen from a plain node:http2 client on a real scheduler
// process: every connection it accepts grants 16 MiB for the connection and for each stream, not
// HTTP/2's default 64 KiB that grpc-js 1.14 leaves on its servers. This fails if a grpc-js update
// moves what scheduler/server/window.ts reaches into.
import fs from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import test from 'ava';
import { SERVER_RECEIVE_WINDOW_BYTES } from '../../../scheduler/server/window.js';
import { startScheduler } from '../helpers.js';
import { HANG_GUARD_MS } from '../../hang-guard.js';

async function windows(url: string, options: http2.SecureClientSessionOptions = {}): Promise<{ stream: number; connection: number }> {
  const session = http2.connect(url, options);
  session.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      session.once('remoteSettings', () => resolve());
      session.once('error', reject);
    });
    // The scheduler's own SETTINGS (and the connection's WINDOW_UPDATE) follow its first ones.
    const grown = (): boolean => (session.remoteSettings.initialWindowSize ?? 0) >= SERVER_RECEIVE_WINDOW_BYTES && (session.state.remoteWindowSize ?? 0) >= SERVER_RECEIVE_WINDOW_BYTES;
    // Until they have come: a fixed number of polls was too short on a loaded machine.
    const deadline = Date.now() + HANG_GUARD_MS; // a hang guard only
    while (!grown() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return { stream: session.remoteSettings.initialWindowSize ?? 0, connection: session.state.remoteWindowSize ?? 0 };
  } finally {
    session.close();
  }
}

test('A plain loopback scheduler grants each connection and each stream a 16 MiB receive window.', async (t) => {
  const scheduler = await startScheduler(t);
  t.deepEqual(await windows(`http://${scheduler.address}`), { stream: SERVER_RECEIVE_WINDOW_BYTES, connection: SERVER_RECEIVE_WINDOW_BYTES });
});

test('A scheduler under TLS grants the same 16 MiB windows.', async (t) => {
  const scheduler = await startScheduler(t, { extra: ['--tls'] });
  const ca = fs.readFileSync(path.join(scheduler.dataDir, 'tls', 'ca.pem'));
  const [host, port] = scheduler.address.split(':');
  t.deepEqual(await windows(`https://${host}:${port}`, { ca, servername: 'localhost' }), { stream: SERVER_RECEIVE_WINDOW_BYTES, connection: SERVER_RECEIVE_WINDOW_BYTES });
});
