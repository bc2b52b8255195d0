// Joining and renewal against a real TLS scheduler: the agent's key and certificate are saved
// mode 0600 and reused; a renewal (with the certificate itself) saves a new pair whose
// certificate has a new serial and works; a crash between the renewal's two files leaves a
// pair that still matches; renewal is due at 2/3 of the certificate's lifetime.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { joinCluster, renewalDue, renewCertificate } from '../../../scheduler/agent/join.js';
import { schedulerClient, unary } from '../../../scheduler/proto/load.js';
import { tempDir } from '../../runner/helpers.js';
import { startSecureCluster, statusOf } from '../adversary.js';

test('An agent renews its certificate with the certificate itself; the new pair is saved, works, and survives a crash between its two files.', async (t) => {
  const cluster = await startSecureCluster(t, 'tls');
  const workDir = tempDir(t, 'join');
  const options = { scheduler: cluster.address, name: 'r1', workDir, ca: cluster.ca! };
  const joined = await joinCluster({ ...options, token: await cluster.token('agent') });
  const first = joined.identity!.cert;
  const x509 = new crypto.X509Certificate(first);
  const lifetime = Date.parse(x509.validTo) - Date.parse(x509.validFrom);
  t.true(lifetime > 29 * 86_400_000 && lifetime < 31 * 86_400_000, 'a 30-day certificate');
  t.is(renewalDue(first), Date.parse(x509.validFrom) + (lifetime * 2) / 3);
  // A restart reuses the saved pair: no token needed.
  t.is((await joinCluster(options)).identity!.cert, first);

  await renewCertificate(options, joined.identity!);
  const renewed = joined.identity!.cert;
  t.not(new crypto.X509Certificate(renewed).serialNumber, x509.serialNumber);
  for (const f of ['agent.key', 'agent.pem']) t.is(fs.statSync(path.join(workDir, 'tls', f)).mode & 0o777, 0o600, f);
  t.false(fs.existsSync(path.join(workDir, 'tls', 'renewed.key')));
  const after = await joinCluster(options);
  t.is(after.identity!.cert, renewed);
  const client = schedulerClient(cluster.address, after);
  t.teardown(() => client.close());
  t.is((await statusOf(unary(client, 'GetCode', { sha256: '00'.repeat(32) }))).code, 5, 'NOT_FOUND: the renewed certificate is accepted');

  // A crash after the new key was set aside and the new certificate written, before agent.key: the pair still matches.
  const tls = path.join(workDir, 'tls');
  const oldKey = fs.readFileSync(path.join(tls, 'agent.key'), 'utf8');
  await renewCertificate(options, after.identity!);
  fs.writeFileSync(path.join(tls, 'renewed.key'), fs.readFileSync(path.join(tls, 'agent.key')), { mode: 0o600 });
  fs.writeFileSync(path.join(tls, 'agent.key'), oldKey, { mode: 0o600 });
  const recovered = await joinCluster(options);
  t.is(recovered.identity!.cert, after.identity!.cert);
  const again = schedulerClient(cluster.address, recovered);
  t.teardown(() => again.close());
  t.is((await statusOf(unary(again, 'GetCode', { sha256: '00'.repeat(32) }))).code, 5);
});
