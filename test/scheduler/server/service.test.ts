// The gRPC listener under TLS: a client that connects the moment the port is bound gets a TLS
// handshake, never a reset. grpc-js drops connections that arrive before its certificate
// provider has delivered the certificates, so they must be in place before the port is known.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { schedulerService } from '../../../scheduler/proto/load.js';
import { ClusterCa } from '../../../scheduler/server/pki.js';
import { serverCredentials } from '../../../scheduler/server/service.js';
import { HANG_GUARD_MS } from '../../hang-guard.js';
import { tempDir } from '../../runner/helpers.js';

// Connects, says so in a file as soon as TCP is up, then completes the TLS handshake.
const CLIENT = `
const tls = require('node:tls'); const fs = require('node:fs');
const [port, ca, flag] = process.argv.slice(1);
const s = tls.connect({ host: '127.0.0.1', port: Number(port), ca: fs.readFileSync(ca), servername: 'localhost', ALPNProtocols: ['h2'] });
s.once('connect', () => fs.writeFileSync(flag, 'connected'));
s.once('secureConnect', () => { process.stdout.write('handshake ' + s.alpnProtocol); s.destroy(); });
s.once('error', (e) => { process.stdout.write('error ' + e.message); process.exitCode = 1; });
`;

test('a TLS client that connects the moment the port is bound completes its handshake instead of being reset', async (t) => {
  const dir = tempDir(t, 'service-tls');
  const ca = await ClusterCa.open(dir);
  const tlsFiles = await ca.serverTls(['127.0.0.1', 'localhost']);
  fs.writeFileSync(path.join(dir, 'ca.pem'), tlsFiles.caPem);
  const server = new grpc.Server();
  server.addService(schedulerService(), {});
  t.teardown(() => server.forceShutdown());
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', serverCredentials(tlsFiles), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  // Hold this event loop from the moment the port is known until the client's TCP connection
  // is up: the server sees the connection on its next turn, as a scheduler does when a client
  // is faster than it.
  const flag = path.join(dir, 'connected');
  const child = spawn(process.execPath, ['-e', CLIENT, String(port), path.join(dir, 'ca.pem'), flag], { stdio: ['ignore', 'pipe', 'inherit'] });
  const wait = new Int32Array(new SharedArrayBuffer(4));
  const until = Date.now() + HANG_GUARD_MS;
  while (!fs.existsSync(flag) && Date.now() < until) Atomics.wait(wait, 0, 0, 5);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.is(out, 'handshake h2');
  t.is(code, 0);
});
