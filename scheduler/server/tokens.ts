// Bearer tokens of the cluster: `crt_<id>_<secret>`. The id is public (logs, `token list`);
// the secret is 32 random bytes shown once and stored only as its SHA-256, so a copy of the
// database does not hand out working tokens. A fast hash is enough for 256-bit random secrets
// (no guessing to slow down); comparison is constant-time.
import crypto from 'node:crypto';
import type { Db } from './db.js';

export const ROLES = ['agent', 'user', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface TokenRow {
  id: string;
  role: Role;
  label: string;
  createdAt: number;
  /** 0: never. */
  expiresAt: number;
  /** 0: not revoked. */
  revokedAt: number;
}

/** Why a token was refused: the message says which, never the secret. */
export class TokenRefusal extends Error {}

const TOKEN_RE = /^crt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

function hash(secret: string): Buffer {
  return crypto.createHash('sha256').update(secret).digest();
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export class Tokens {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  /** A new token; the returned `token` is the only copy of its secret. */
  async create(role: Role, ttlS: number, label: string, now = Date.now()): Promise<TokenRow & { token: string }> {
    const id = crypto.randomBytes(6).toString('hex');
    const secret = crypto.randomBytes(32).toString('base64url');
    const expiresAt = ttlS > 0 ? now + ttlS * 1000 : 0;
    await this.#db.write(() =>
      this.#db.q.insertInto('tokens').values({ id, role, label, secret_sha256: hash(secret).toString('hex'), created_at: now, expires_at: expiresAt }).execute(),
    );
    return { id, role, label, createdAt: now, expiresAt, revokedAt: 0, token: `crt_${id}_${secret}` };
  }

  #select() {
    return this.#db.q.selectFrom('tokens').select(['id', 'role', 'label', 'created_at as createdAt', 'expires_at as expiresAt', 'revoked_at as revokedAt']);
  }

  list(): Promise<TokenRow[]> {
    return this.#select().orderBy('created_at').orderBy('id').execute();
  }

  get(id: string): Promise<TokenRow | undefined> {
    return this.#select().where('id', '=', id).executeTakeFirst();
  }

  /** Revokes a token; revoking twice is not an error (the first time stays recorded). */
  async revoke(id: string, now = Date.now()): Promise<TokenRow | undefined> {
    await this.#db.write(() => this.#db.q.updateTable('tokens').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', '=', 0).execute());
    return this.get(id);
  }

  /** Revokes every live token with this label (the scheduler's own local tokens, on restart). */
  async revokeLabel(label: string, now = Date.now()): Promise<void> {
    await this.#db.write(() => this.#db.q.updateTable('tokens').set({ revoked_at: now }).where('label', '=', label).where('revoked_at', '=', 0).execute());
  }

  /** The token's row if it is valid now; throws TokenRefusal saying why not. */
  async verify(token: string, now = Date.now()): Promise<TokenRow> {
    const m = TOKEN_RE.exec(token);
    if (m === null) throw new TokenRefusal('the token is malformed (tokens look like crt_<id>_<secret>; check for a truncated copy)');
    const row = await this.#db.q
      .selectFrom('tokens')
      .select(['id', 'role', 'label', 'secret_sha256 as secret', 'created_at as createdAt', 'expires_at as expiresAt', 'revoked_at as revokedAt'])
      .where('id', '=', m[1]!)
      .executeTakeFirst();
    const given = hash(m[2]!);
    if (row === undefined || !crypto.timingSafeEqual(given, Buffer.from(row.secret, 'hex'))) {
      throw new TokenRefusal(`token ${m[1]} is not known to this scheduler (wrong cluster, or a mistyped secret)`);
    }
    if (row.revokedAt > 0) throw new TokenRefusal(`token ${row.id} was revoked at ${new Date(row.revokedAt).toISOString()}: ask an admin for a new one`);
    if (row.expiresAt > 0 && row.expiresAt <= now) {
      throw new TokenRefusal(`token ${row.id} expired at ${new Date(row.expiresAt).toISOString()}: ask an admin for a new one (cr-scheduler token create)`);
    }
    const { secret: _secret, ...info } = row;
    return info;
  }
}
