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

/** Serials as X.509 tools print them: hex, upper case, no leading zero bytes' separators. */
export function normalSerial(serial: string): string {
  return serial.replace(/[^0-9a-fA-F]/g, '').toUpperCase().replace(/^(00)+(?=..)/, '');
}

export class NodeIdentity {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async recordCertificate(serial: string, node: string, expiresAt: number, now = Date.now()): Promise<void> {
    await this.#db.write(() => this.#db.q.insertInto('node_certificates').values({ serial: normalSerial(serial), node, issued_at: now, expires_at: expiresAt }).execute());
  }

  /** When the certificate with this serial was revoked; 0 when it was not (the check of every call). */
  async revokedAt(serial: string): Promise<number> {
    const row = await this.#db.q.selectFrom('node_certificates').select('revoked_at').where('serial', '=', normalSerial(serial)).where('revoked_at', '>', 0).executeTakeFirst();
    return row?.revoked_at ?? 0;
  }

  /** A certificate of `node` that is neither expired nor revoked, if any. */
  liveCertificate(node: string, now = Date.now()): Promise<CertificateRow | undefined> {
    return this.#db.q
      .selectFrom('node_certificates')
      .select(['serial', 'node', 'issued_at as issuedAt', 'expires_at as expiresAt', 'revoked_at as revokedAt'])
      .where('node', '=', node)
      .where('revoked_at', '=', 0)
      .where('expires_at', '>', now)
      .orderBy('expires_at', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  /** The node an agent token was bound to at its first Connect (loopback), if any. */
  async boundNode(token: string): Promise<string | undefined> {
    return (await this.#db.q.selectFrom('token_nodes').select('node').where('token', '=', token).executeTakeFirst())?.node;
  }

  async bind(token: string, node: string, now = Date.now()): Promise<void> {
    await this.#db.write(() => this.#db.q.insertInto('token_nodes').values({ token, node, bound_at: now }).onConflict((oc) => oc.column('token').doNothing()).execute());
  }

  /** Revokes every live certificate of `node` and returns the agent tokens bound to it (for the caller to revoke). */
  revokeNode(node: string, now = Date.now()): Promise<{ certificates: number; tokens: string[] }> {
    return this.#db.write(async () => {
      const { numUpdatedRows } = await this.#db.q.updateTable('node_certificates').set({ revoked_at: now }).where('node', '=', node).where('revoked_at', '=', 0).executeTakeFirst();
      const tokens = (await this.#db.q.selectFrom('token_nodes').select('token').where('node', '=', node).execute()).map((r) => r.token);
      return { certificates: Number(numUpdatedRows), tokens };
    });
  }
}
