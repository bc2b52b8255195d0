// `cr-scheduler token create|list|revoke`: the cluster's bearer tokens (admin only). The secret
// is printed once, by `create`, and stored hashed; `list` and the logs show only the public id.
import { Command, InvalidArgumentError, Option } from 'commander';
import { printable } from '../escape.js';
import type { TokenInfo__Output } from '../proto/types.js';
import { table, toJson } from '../output.js';
import { clusterCommand, withCluster, type ClusterFlags } from './common.js';

function parseRole(value: string): string {
  if (value !== 'agent' && value !== 'user' && value !== 'admin') throw new InvalidArgumentError(`--role must be agent, user or admin, got "${value}"`);
  return value;
}

function parseTtl(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError(`--ttl must be whole seconds (0: never expires), got "${value}"`);
  return n;
}

const time = (ms: number): string => (ms > 0 ? new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z') : '');

function state(t: TokenInfo__Output, now = Date.now()): string {
  if (t.revokedAt > 0) return 'revoked';
  if (t.expiresAt > 0 && t.expiresAt <= now) return 'expired';
  return 'valid';
}

function info(t: TokenInfo__Output): Record<string, unknown> {
  return { id: t.id, role: t.role, label: t.label, state: state(t), createdAt: time(t.createdAt), expiresAt: time(t.expiresAt) || null, revokedAt: time(t.revokedAt) || null };
}

export function tokenCommand(): Command {
  const create = clusterCommand('create', 'create a token and print it (once): agents join with one, users and admins call with one')
    .addOption(new Option('--role <role>', 'agent, user or admin').argParser(parseRole).makeOptionMandatory())
    .addOption(new Option('--ttl <seconds>', 'expires after this many seconds (0: never)').argParser(parseTtl).default(86_400))
    .addOption(new Option('--label <text>', 'what it is for, shown by "token list"').default(''))
    .addHelpText('after', `
Example:
  $ cr-scheduler token create --role agent --ttl 3600 > join.token
  $ CR_TOKEN_FILE=join.token cr-scheduler agent --scheduler 10.0.0.1:7070 --ca ca.pem

The token is printed on stdout only: the scheduler keeps its SHA-256, not the token.`)
    .action(async (flags: ClusterFlags & { role: string; ttl: number; label: string }) => {
      await withCluster(flags, async (cluster) => {
        const t = await cluster.call('CreateToken', { role: flags.role, ttlS: flags.ttl, label: flags.label });
        if (flags.json) return void process.stdout.write(`${toJson({ ...info(t), token: t.token })}\n`);
        process.stdout.write(`${t.token}\n`);
        process.stderr.write(`token ${t.id} (${t.role}) ${t.expiresAt > 0 ? `expires ${time(t.expiresAt)}` : 'never expires'}; revoke it with "cr-scheduler token revoke ${t.id}"\n`);
      });
    });
  const list = clusterCommand('list', 'list the tokens (ids, roles, expiry; never the secrets)').action(async (flags: ClusterFlags) => {
    await withCluster(flags, async (cluster) => {
      const { tokens } = await cluster.call('ListTokens', {});
      if (flags.json) return void process.stdout.write(`${toJson(tokens.map(info))}\n`);
      process.stdout.write(`${table(['ID', 'ROLE', 'STATE', 'CREATED', 'EXPIRES', 'LABEL'], tokens.map((t) => [t.id, t.role, state(t), time(t.createdAt), time(t.expiresAt) || 'never', printable(t.label)]))}\n`);
    });
  });
  const revoke = clusterCommand('revoke', 'revoke a token: calls with it are refused from now on')
    .argument('<id>', 'a token id, as "cr-scheduler token list" shows it')
    .action(async (id: string, flags: ClusterFlags) => {
      await withCluster(flags, async (cluster) => {
        const t = await cluster.call('RevokeToken', { id });
        if (flags.json) return void process.stdout.write(`${toJson(info(t))}\n`);
        process.stdout.write(`token ${t.id} (${t.role}) revoked\n`);
      });
    });
  return new Command('token')
    .description('manage the tokens that authenticate users, admins and joining agents (needs an admin token)')
    .addCommand(create.exitOverride())
    .addCommand(list.exitOverride())
    .addCommand(revoke.exitOverride());
}
