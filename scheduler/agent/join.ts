// Joining a TLS cluster: the agent makes its own key pair (the private key never leaves this
// machine), sends the public key with its `agent` token, and gets back a client certificate
// signed by the cluster CA. Key and certificate live in <work>/tls/ (mode 0600); a later start
// reuses them while they are valid for this CA and node, so the join token can be short-lived.
// A name joins once: the scheduler refuses a second join while the name holds a live
// certificate. The agent renews its own certificate at 2/3 of its lifetime, with that
// certificate (Renew), so a long-running agent never needs a join token again.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ClusterError, NoSchedulerError } from '../cluster-errors.js';
import { AgentIdentity, type ClientCredentials } from '../credentials.js';
import { parseSchedulerAddresses } from '../addresses.js';
import { followCall, SchedulerSet } from '../leader-follow.js';
import { writeSecretFile } from '../server/pki.js';

export interface JoinOptions {
  scheduler: string;
  name: string;
  workDir: string;
  /** PEM of the cluster CA. */
  ca: string;
  /** An `agent` token; needed only when there is no valid certificate yet. */
  token?: string | undefined;
}

function usable(certPem: string, caPem: string, name: string): boolean {
  try {
    const cert = new crypto.X509Certificate(certPem);
    const ca = new crypto.X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey) && cert.subject.split('\n').includes(`CN=${name}`) && Date.parse(cert.validTo) > Date.now() + 86_400_000;
  } catch {
    return false;
  }
}

/** Whether `keyPem` is the private key of `certPem`. */
function pairs(keyPem: string, certPem: string): boolean {
  try {
    const spki = (k: crypto.KeyObject): Buffer => k.export({ type: 'spki', format: 'der' });
    return spki(crypto.createPublicKey(crypto.createPrivateKey(keyPem))).equals(spki(new crypto.X509Certificate(certPem).publicKey));
  } catch {
    return false;
  }
}

function files(workDir: string): { keyFile: string; certFile: string; renewedKeyFile: string } {
  const dir = path.join(workDir, 'tls');
  return { keyFile: path.join(dir, 'agent.key'), certFile: path.join(dir, 'agent.pem'), renewedKeyFile: path.join(dir, 'renewed.key') };
}

/** The saved key and certificate, if usable; a renewal cut short by a crash left the new key in renewed.key. */
function saved(options: JoinOptions): { key: string; cert: string } | null {
  const { keyFile, certFile, renewedKeyFile } = files(options.workDir);
  if (!fs.existsSync(certFile)) return null;
  const cert = fs.readFileSync(certFile, 'utf8');
  if (!usable(cert, options.ca, options.name)) return null;
  for (const file of [keyFile, renewedKeyFile]) {
    if (!fs.existsSync(file)) continue;
    const key = fs.readFileSync(file, 'utf8');
    if (pairs(key, cert)) return { key, cert };
  }
  return null;
}

export async function joinCluster(options: JoinOptions): Promise<ClientCredentials> {
  const { keyFile, certFile } = files(options.workDir);
  const kept = saved(options);
  if (kept !== null) return { ca: options.ca, identity: new AgentIdentity(kept.key, kept.cert) };
  if (!options.token) {
    throw new ClusterError(`this agent has not joined the cluster yet: give it an agent token (CR_TOKEN or --token-file; an admin creates one with "cr-scheduler token create --role agent")`);
  }
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  // Any of the schedulers given: a standby names the leader, which joins it (leader-follow.ts).
  const set = new SchedulerSet(parseSchedulerAddresses(options.scheduler), { ca: options.ca, token: options.token });
  try {
    const reply = await followCall(set, 'Join', { node: options.name, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string }, { deadlineMs: 30_000, leaderWaitMs: 30_000 });
    const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    writeSecretFile(keyFile, key);
    writeSecretFile(certFile, reply.certificatePem);
    return { ca: options.ca, identity: new AgentIdentity(key, reply.certificatePem) };
  } catch (err) {
    if (err instanceof NoSchedulerError) throw new ClusterError(`cannot join over TLS: ${err.message}; is --ca the scheduler's tls/ca.pem?`);
    const e = err as grpc.ServiceError;
    if (e.code === grpc.status.UNAUTHENTICATED) throw new ClusterError(`the scheduler refused to let this agent join: not authenticated: ${e.details}`);
    if (e.code === grpc.status.PERMISSION_DENIED) throw new ClusterError(`the scheduler refused to let this agent join: permission denied: ${e.details}`);
    throw err;
  } finally {
    set.close();
  }
}

/** When a certificate is due for renewal: at 2/3 of its lifetime, ms since the epoch. */
export function renewalDue(certPem: string): number {
  const cert = new crypto.X509Certificate(certPem);
  const from = Date.parse(cert.validFrom);
  return from + ((Date.parse(cert.validTo) - from) * 2) / 3;
}

/**
 * Renews this agent's certificate with the certificate itself: a new key pair, the new
 * certificate from the scheduler, both saved (crash-safe: the new key is saved aside first, so
 * a crash between the two files leaves a key that pairs with agent.pem), and `identity`
 * switched to them for the connections made from now on.
 */
export async function renewCertificate(options: { scheduler: string; workDir: string; ca: string }, identity: AgentIdentity): Promise<void> {
  const { keyFile, certFile, renewedKeyFile } = files(options.workDir);
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const set = new SchedulerSet(parseSchedulerAddresses(options.scheduler), { ca: options.ca, identity });
  try {
    const reply = await followCall(set, 'Renew', { publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string }, { deadlineMs: 30_000, leaderWaitMs: 30_000 });
    const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    writeSecretFile(renewedKeyFile, key);
    writeSecretFile(certFile, reply.certificatePem);
    writeSecretFile(keyFile, key);
    fs.rmSync(renewedKeyFile, { force: true });
    identity.replace(key, reply.certificatePem);
  } finally {
    set.close();
  }
}

const RENEW_RETRY_MS = 60_000;
/** setTimeout's longest delay; a later renewal waits in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Renews the agent's certificate whenever it is due, until the returned function is called. */
export function keepRenewed(options: { scheduler: string; workDir: string; ca: string }, identity: AgentIdentity, log: (line: string) => void): () => void {
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const arm = (delayMs: number): void => {
    if (stopped) return;
    timer = setTimeout(() => void run(), Math.max(0, Math.min(MAX_TIMER_MS, delayMs)));
    timer.unref();
  };
  const run = async (): Promise<void> => {
    const wait = renewalDue(identity.cert) - Date.now();
    if (wait > 0) return arm(wait);
    try {
      await renewCertificate(options, identity);
      log(`renewed this node's client certificate (valid until ${new crypto.X509Certificate(identity.cert).validTo})`);
      arm(renewalDue(identity.cert) - Date.now());
    } catch (err) {
      log(`could not renew this node's client certificate (${(err as grpc.ServiceError).details ?? (err as Error).message}); trying again in ${RENEW_RETRY_MS / 1000} s`);
      arm(RENEW_RETRY_MS);
    }
  };
  arm(renewalDue(identity.cert) - Date.now());
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
