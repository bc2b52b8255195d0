// What makes a node name someone's: under TLS the client certificates the cluster CA issued for
// it (each recorded by serial, with its expiry and revocation), on loopback without TLS the
// agent tokens bound to it at their first Connect. `node revoke NAME` revokes both, after which
// the name may join again.
import type { Db } from './db.js';

export interface CertificateRow {
  serial: string;
  node: string;
  issuedAt: number;
  expiresAt: number;
  /** 0: not revoked. */
  revokedAt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS node_certificates (
  serial TEXT PRIMARY KEY,
  node TEXT NOT NULL,
  issued_at REAL NOT NULL,
  expires_at REAL NOT NULL,
  revoked_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS node_certificates_node ON node_certificates (node);
CREATE TABLE IF NOT EXISTS token_nodes (
  token TEXT PRIMARY KEY,
  node TEXT NOT NULL,
  bound_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS token_nodes_node ON token_nodes (node);`;

const COLUMNS = `serial, node, issued_at AS issuedAt, expires_at AS expiresAt, revoked_at AS revokedAt`;

/** Serials as X.509 tools print them: hex, upper case, no leading zero bytes' separators. */
export function normalSerial(serial: string): string {
  return serial.replace(/[^0-9a-fA-F]/g, '').toUpperCase().replace(/^(00)+(?=..)/, '');
}

export class NodeIdentity {
  readonly #db: Db;
  readonly #revoked;

  constructor(db: Db) {
    this.#db = db;
    db.exec(SCHEMA);
    this.#revoked = db.prepare<[string], { revokedAt: number }>(`SELECT revoked_at AS revokedAt FROM node_certificates WHERE serial = ? AND revoked_at > 0`);
  }

  recordCertificate(serial: string, node: string, expiresAt: number, now = Date.now()): void {
    this.#db.prepare(`INSERT INTO node_certificates (serial, node, issued_at, expires_at) VALUES (?, ?, ?, ?)`).run(normalSerial(serial), node, now, expiresAt);
  }

  /** When the certificate with this serial was revoked; 0 when it was not (the check of every call). */
  revokedAt(serial: string): number {
    return this.#revoked.get(normalSerial(serial))?.revokedAt ?? 0;
  }

  /** A certificate of `node` that is neither expired nor revoked, if any. */
  liveCertificate(node: string, now = Date.now()): CertificateRow | undefined {
    return this.#db
      .prepare<[string, number], CertificateRow>(`SELECT ${COLUMNS} FROM node_certificates WHERE node = ? AND revoked_at = 0 AND expires_at > ? ORDER BY expires_at DESC LIMIT 1`)
      .get(node, now);
  }

  /** The node an agent token was bound to at its first Connect (loopback), if any. */
  boundNode(token: string): string | undefined {
    return this.#db.prepare<[string], { node: string }>(`SELECT node FROM token_nodes WHERE token = ?`).get(token)?.node;
  }

  bind(token: string, node: string, now = Date.now()): void {
    this.#db.prepare(`INSERT INTO token_nodes (token, node, bound_at) VALUES (?, ?, ?) ON CONFLICT (token) DO NOTHING`).run(token, node, now);
  }

  /** Revokes every live certificate of `node` and returns the agent tokens bound to it (for the caller to revoke). */
  revokeNode(node: string, now = Date.now()): { certificates: number; tokens: string[] } {
    return this.#db.transaction(() => {
      const { changes } = this.#db.prepare(`UPDATE node_certificates SET revoked_at = ? WHERE node = ? AND revoked_at = 0`).run(now, node);
      const tokens = this.#db.prepare<[string], { token: string }>(`SELECT token FROM token_nodes WHERE node = ?`).all(node).map((r) => r.token);
      return { certificates: changes, tokens };
    })();
  }
}
