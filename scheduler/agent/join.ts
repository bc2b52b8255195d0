// Joining a TLS cluster: the agent makes its own key pair (the private key never leaves this
// machine), sends the public key with its `agent` token, and gets back a client certificate
// signed by the cluster CA. Key and certificate live in <work>/tls/ (mode 0600); a later start
// reuses them while they are valid for this CA and node, so the join token can be short-lived.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ClusterError } from '../cluster-errors.js';
import type { ClientCredentials } from '../credentials.js';
import { schedulerClient, unary } from '../proto/load.js';
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

export async function joinCluster(options: JoinOptions): Promise<ClientCredentials> {
  const dir = path.join(options.workDir, 'tls');
  const keyFile = path.join(dir, 'agent.key');
  const certFile = path.join(dir, 'agent.pem');
  if (fs.existsSync(keyFile) && fs.existsSync(certFile)) {
    const cert = fs.readFileSync(certFile, 'utf8');
    if (usable(cert, options.ca, options.name)) return { ca: options.ca, key: fs.readFileSync(keyFile, 'utf8'), cert };
  }
  if (!options.token) {
    throw new ClusterError(`this agent has not joined the cluster yet: give it an agent token (CR_TOKEN or --token-file; an admin creates one with "cr-scheduler token create --role agent")`);
  }
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const client = schedulerClient(options.scheduler, { ca: options.ca, token: options.token });
  try {
    const reply = await unary(client, 'Join', { node: options.name, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string }, 30_000);
    const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    writeSecretFile(keyFile, key);
    writeSecretFile(certFile, reply.certificatePem);
    return { ca: options.ca, key, cert: reply.certificatePem };
  } catch (err) {
    const e = err as grpc.ServiceError;
    if (e.code === grpc.status.UNAUTHENTICATED) throw new ClusterError(`the scheduler refused to let this agent join: not authenticated: ${e.details}`);
    if (e.code === grpc.status.PERMISSION_DENIED) throw new ClusterError(`the scheduler refused to let this agent join: permission denied: ${e.details}`);
    if (e.code === grpc.status.UNAVAILABLE) throw new ClusterError(`cannot reach the scheduler at ${options.scheduler} over TLS (${e.details}): is it running, and is --ca its tls/ca.pem?`);
    throw err;
  } finally {
    client.close();
  }
}
