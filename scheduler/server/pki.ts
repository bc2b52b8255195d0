// The cluster's certificate authority, in <data>/tls/: ca.key + ca.pem (created on the first
// start, kept), server.key + server.pem (re-issued at every start for the names it listens on,
// so a new --listen address needs no manual step). Every file is mode 0600 and written
// atomically (temp, fsync, rename, fsync dir): a crash never leaves a half-written key.
// Keys are ECDSA P-256 (WebCrypto generates them in milliseconds); certificates come from
// @peculiar/x509 because Node's crypto can parse X.509 but not issue it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// @peculiar/x509 resolves its services with tsyringe, which needs the Reflect metadata API first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

type CryptoKey = crypto.webcrypto.CryptoKey;
type CryptoKeyPair = crypto.webcrypto.CryptoKeyPair;
const webcrypto = crypto.webcrypto;
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** Agents' client certificates; an agent renews its own at 2/3 of this (agent/join.ts). */
export const AGENT_CERT_DAYS = 30;
/** Agent certificates carry this organizational unit: the role the scheduler gives their holder. */
export const AGENT_OU = 'cr-agent';

export interface IssuedCertificate {
  pem: string;
  /** Hex, as issued. */
  serial: string;
  /** notAfter, ms since the epoch. */
  expiresAt: number;
}

export interface ServerTls {
  caPem: string;
  keyPem: string;
  certPem: string;
}

export function writeSecretFile(file: string, data: string | Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(temp, 'w', 0o600);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
  const dir = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64.replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

function derOf(text: string): Buffer {
  return Buffer.from(text.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

function serial(): string {
  // Positive (top bit clear), 16 bytes: unique without bookkeeping.
  const bytes = crypto.randomBytes(16);
  bytes[0]! &= 0x7f;
  return bytes.toString('hex');
}

export class ClusterCa {
  readonly dir: string;
  readonly caPem: string;
  readonly #caKey: CryptoKey;
  readonly #caCert: x509.X509Certificate;

  private constructor(dir: string, caPem: string, caKey: CryptoKey) {
    this.dir = dir;
    this.caPem = caPem;
    this.#caKey = caKey;
    this.#caCert = new x509.X509Certificate(caPem);
  }

  /** Loads <dataDir>/tls/ca.*, creating the CA on the first start. */
  static async open(dataDir: string): Promise<ClusterCa> {
    const dir = path.join(dataDir, 'tls');
    const keyFile = path.join(dir, 'ca.key');
    const certFile = path.join(dir, 'ca.pem');
    if (!fs.existsSync(keyFile) || !fs.existsSync(certFile)) {
      const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: serial(),
        name: `CN=cr cluster CA ${os.hostname()} ${new Date().toISOString().slice(0, 10)}`,
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 10 * 365 * DAY_MS),
        signingAlgorithm: ALG,
        keys,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      // The key first: a ca.pem without its key would be unusable after a crash in between.
      writeSecretFile(keyFile, pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)));
      writeSecretFile(certFile, cert.toString('pem'));
    }
    const caKey = await webcrypto.subtle.importKey('pkcs8', derOf(fs.readFileSync(keyFile, 'utf8')), ALG, false, ['sign']);
    return new ClusterCa(dir, fs.readFileSync(certFile, 'utf8'), caKey);
  }

  async #issue(subject: string, publicKey: CryptoKey, days: number, extensions: x509.Extension[]): Promise<IssuedCertificate> {
    const serialNumber = serial();
    const notAfter = new Date(Date.now() + days * DAY_MS);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber,
      subject,
      issuer: this.#caCert.subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter,
      signingAlgorithm: ALG,
      publicKey,
      signingKey: this.#caKey,
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true), await x509.AuthorityKeyIdentifierExtension.create(this.#caCert), ...extensions],
    });
    return { pem: cert.toString('pem'), serial: serialNumber, expiresAt: notAfter.getTime() };
  }

  /** A fresh server key and certificate naming `hosts` (DNS names or IP addresses), saved in tls/. */
  async serverTls(hosts: readonly string[]): Promise<ServerTls> {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const names = [...new Set(hosts)].map((h) => ({ type: (/^[\d.]+$/.test(h) || h.includes(':') ? 'ip' : 'dns') as 'ip' | 'dns', value: h }));
    const { pem: certPem } = await this.#issue(`CN=cr-scheduler`, keys.publicKey, 397, [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
    ]);
    const keyPem = pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    writeSecretFile(path.join(this.dir, 'server.key'), keyPem);
    writeSecretFile(path.join(this.dir, 'server.pem'), certPem);
    return { caPem: this.caPem, keyPem, certPem };
  }

  /**
   * A client certificate for an agent's public key (SPKI PEM); throws TypeError on a bad key.
   * The caller records its serial (node-identity.ts): revocation is checked on every call.
   */
  async agentCertificate(node: string, publicKeyPem: string, days = AGENT_CERT_DAYS): Promise<IssuedCertificate> {
    let publicKey: CryptoKey;
    try {
      publicKey = await webcrypto.subtle.importKey('spki', crypto.createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' }), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
    } catch {
      throw new TypeError('public_key_pem is not an ECDSA P-256 public key in PEM (SPKI)');
    }
    return this.#issue(`CN=${node}, OU=${AGENT_OU}`, publicKey, days, [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ]);
  }
}

/** The names a server certificate must carry to be reached at `host` (all addresses for a wildcard). */
export function serverNames(host: string, extra: readonly string[] = []): string[] {
  const names = ['localhost', '127.0.0.1', '::1', os.hostname(), ...extra];
  if (host === '0.0.0.0' || host === '::') {
    for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) names.push(a.address);
  } else {
    names.push(host);
  }
  return names.filter((n) => n.length > 0);
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
