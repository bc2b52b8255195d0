// `cr-scheduler serve`: the scheduler, with an embedded agent for this machine unless
// --no-local-agent. The first line on stdout is the address it listens on (tests use --port 0).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_LEADER_LEASE_MS, DEFAULT_LEASE_TIMEOUT_MS, DEFAULT_PORT } from '../names.js';
import { ClusterError } from '../cluster-errors.js';
import type { ClientCredentials } from '../credentials.js';
import { parseBytes, parseCount, parseDuration, parseHostPort, parsePositiveNumber } from '../options.js';
import type { Role, Tokens } from '../server/tokens.js';
import { LOCAL_AGENT_TOKEN_FILE, LOCAL_TOKEN_FILE } from './common.js';

interface ServeFlags {
  host: string;
  listen?: string;
  tls?: boolean;
  san: string[];
  port: number;
  data: string;
  db?: string;
  advertise?: string;
  leaderLease: number;
  leaseTimeout: number;
  uploadIdleTimeout: number;
  maxImageBytes: number;
  maxJobImageBytes: number;
  minUploadRate: number;
  uploadRateWindow: number;
  keepFinished: number;
  images?: string;
  imagesEndpoint?: string;
  localAgent: boolean;
  slots: number;
  name: string;
  http?: { host: string; port: number };
}

export { DEFAULT_DATA_DIR };

export function defaultNodeName(): string {
  return os.hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'node';
}

export function logLine(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the scheduler: keeps jobs in <data>/scheduler.db, places them on agents, stores their images')
    .addOption(new Option('--listen <addr>', 'address to listen on, HOST or HOST:PORT (default: 127.0.0.1); any other than loopback needs TLS').env('CR_LISTEN'))
    .addOption(new Option('--host <host>', 'the same as --listen HOST').env('CR_HOST').default(DEFAULT_HOST).hideHelp())
    .addOption(new Option('--tls', 'TLS also on loopback (always on other addresses): creates the cluster CA in <data>/tls/ on first start'))
    .addOption(new Option('--no-tls', 'plain TCP: allowed on loopback only'))
    .addOption(new Option('--san <name...>', "more names or addresses for the scheduler's certificate (it already names this host and its addresses)").default([]))
    .addOption(new Option('--port <port>', 'port to listen on (0: any free port)').env('CR_PORT').argParser(parseCount('--port')).default(DEFAULT_PORT))
    .addOption(new Option('--data <dir>', 'the database (without --db), images, keys and token files').env('CR_DATA').default(DEFAULT_DATA_DIR))
    .addOption(new Option('--db <url>', 'keep jobs, nodes and tokens in PostgreSQL (postgres://user:pass@host:5432/db) instead of <data>/scheduler.db; several serve processes on one database: one leads, the others stand by').env('CR_DB'))
    .addOption(
      new Option('--lease-timeout <seconds>', 'a node not heard from for this long is presumed dead and its jobs move')
        .env('CR_LEASE_TIMEOUT')
        .argParser(parsePositiveNumber('--lease-timeout'))
        .default(DEFAULT_LEASE_TIMEOUT_MS / 1000),
    )
    .addOption(new Option('--advertise <host:port>', 'where clients and agents reach this scheduler, as standbys tell them (default: the listen address)').env('CR_ADVERTISE'))
    .addOption(
      new Option('--leader-lease <seconds>', 'with several serve processes on one database: a leader not heard from for this long is replaced by a standby')
        .env('CR_LEADER_LEASE')
        .argParser(parsePositiveNumber('--leader-lease'))
        .default(DEFAULT_LEADER_LEASE_MS / 1000),
    )
    .addOption(
      new Option('--upload-idle-timeout <seconds>', 'an image upload that sends no byte for this long fails (a part of a parallel upload never came)')
        .env('CR_UPLOAD_IDLE_TIMEOUT')
        .argParser(parsePositiveNumber('--upload-idle-timeout'))
        .default(30),
    )
    .addOption(new Option('--max-image-bytes <size>', 'an image upload declaring more is refused before a byte is written').env('CR_MAX_IMAGE_BYTES').argParser(parseBytes('--max-image-bytes')).default(64 * 2 ** 30, '64GiB'))
    .addOption(
      new Option('--max-job-image-bytes <size>', "a job's images held at once, with the one being uploaded, at most (its quota)")
        .env('CR_MAX_JOB_IMAGE_BYTES')
        .argParser(parseBytes('--max-job-image-bytes'))
        .default(256 * 2 ** 30, '256GiB'),
    )
    .addOption(new Option('--min-upload-rate <size>', 'an upload slower than this per second, averaged over --upload-rate-window, is cut (0: never)').env('CR_MIN_UPLOAD_RATE').argParser(parseBytes('--min-upload-rate', 0)).default(2 ** 20, '1MiB'))
    .addOption(new Option('--upload-rate-window <duration>', 'the window the upload rate is averaged over').env('CR_UPLOAD_RATE_WINDOW').argParser(parseDuration('--upload-rate-window')).default(30, '30s'))
    .addOption(new Option('--keep-finished <duration>', "a finished job's images are removed this long after it ended (until then it keeps its newest)").env('CR_KEEP_FINISHED').argParser(parseDuration('--keep-finished')).default(7 * 86_400, '7d'))
    .addOption(new Option('--images <dir-or-url>', 'a shared image store agents write to and read from directly: a directory every node mounts, or s3://BUCKET/PREFIX (default: images go over gRPC to <data>/images)').env('CR_IMAGES'))
    .addOption(new Option('--images-endpoint <url>', 'the endpoint of an S3-compatible store (default: AWS; region and credentials the standard AWS way)').env('CR_IMAGES_ENDPOINT'))
    .addOption(new Option('--http <addr>', 'serve the dashboard on HOST:PORT (e.g. 127.0.0.1:8080); any other than loopback needs TLS (docs/dashboard.md)').env('CR_HTTP').argParser(parseHostPort('--http')))
    .addOption(new Option('--no-local-agent', 'do not run jobs on this machine'))
    .addOption(new Option('--slots <n>', "the local agent's slots").argParser(parseCount('--slots', 1)).default(os.availableParallelism()))
    .addOption(new Option('--name <name>', "the local agent's node name").default(defaultNodeName()))
    .addHelpText(
      'after',
      `
Examples:
  $ cr-scheduler serve
  $ cr-scheduler serve --listen 0.0.0.0:7070 --data /var/lib/cr --lease-timeout 10 --no-local-agent

Prints "listening on HOST:PORT" on stdout when ready. Writes an admin token to <data>/${LOCAL_TOKEN_FILE}
(mode 0600), which the CLI on this machine uses by default, and an agent token to
<data>/${LOCAL_AGENT_TOKEN_FILE}, which agents started on this machine use by default (more agents:
"cr-scheduler agent --name node2"; other machines: docs/security-cluster.md). Every call needs a token or an
agent certificate (docs/security-cluster.md). Killed at any moment, it restarts with the
jobs it had: running jobs keep running on their agents, which reconnect on their own.`,
    )
    .action(async (flags: ServeFlags) => {
      await serve(flags);
    });
}

/** HOST, HOST:PORT or [V6]:PORT. */
function parseListen(value: string, port: number): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(value) ?? /^([^:]+)(?::(\d+))?$/.exec(value) ?? /^([^[\]]*:[^[\]]*)()$/.exec(value);
  if (m === null || !m[1]) throw new ClusterError(`--listen ${JSON.stringify(value)} is not HOST, HOST:PORT or [IPv6]:PORT`);
  return { host: m[1], port: m[2] ? Number(m[2]) : port };
}

async function serve(flags: ServeFlags): Promise<void> {
  const { host, port: wanted } = parseListen(flags.listen ?? flags.host, flags.port);
  const web = flags.http ? await import('../http/server.js') : null;
  const http = flags.http ?? null;
  const [{ Agent }, { SchedulerCore }, { listen }, pki, { Tokens }, { Authenticator }, { checkDataDir }, { NodeIdentity }, { retagLegacyImages }, { openSharedStore }, { SharedStoreError }] = await Promise.all([
    import('../agent/agent.js'),
    import('../server/scheduler.js'),
    import('../server/service.js'),
    import('../server/pki.js'),
    import('../server/tokens.js'),
    import('../server/auth.js'),
    import('../server/db.js'),
    import('../server/node-identity.js'),
    import('../server/legacy-images.js'),
    import('../images/open.js'),
    import('../images/store.js'),
  ]);
  const useTls = flags.tls ?? !pki.isLoopback(host);
  if (!useTls && !pki.isLoopback(host)) {
    throw new ClusterError(`refusing to listen on ${host} without TLS: anyone who reaches it could submit code and read images. Drop --no-tls (the cluster CA is created in ${path.join(path.resolve(flags.data), 'tls')}), or listen on 127.0.0.1`);
  }
  const unsafe = checkDataDir(flags.data);
  if (unsafe !== null) logLine(`warning: ${unsafe}`);
  let sharedImages = null;
  if (flags.images) {
    try {
      sharedImages = await openSharedStore(flags.images, { endpoint: flags.imagesEndpoint, create: true });
    } catch (err) {
      if (err instanceof SharedStoreError) throw new ClusterError(err.message);
      throw err;
    }
  }
  const core = await SchedulerCore.open({
    sharedImages,
    sharedImagesEndpoint: flags.imagesEndpoint,
    dataDir: flags.data,
    dbUrl: flags.db ?? null,
    leaseTimeoutMs: Math.round(flags.leaseTimeout * 1000),
    uploadIdleTimeoutMs: Math.round(flags.uploadIdleTimeout * 1000),
    maxImageBytes: flags.maxImageBytes,
    maxJobImageBytes: flags.maxJobImageBytes,
    minUploadBytesPerS: flags.minUploadRate,
    uploadRateWindowMs: Math.round(flags.uploadRateWindow * 1000),
    keepFinishedMs: Math.round(flags.keepFinished * 1000),
    leaderLeaseMs: Math.round(flags.leaderLease * 1000),
    log: logLine,
  });
  // A standby leaves what changes the database to the leader.
  if (core.leadership.leading) await retagLegacyImages(core.db, core.images, logLine);
  const tokens = new Tokens(core.db);
  const identity = new NodeIdentity(core.db);
  // Without a usable CA and certificate the scheduler does not start: never silently open.
  const ca = useTls ? await pki.ClusterCa.open(flags.data) : null;
  // One certificate for both listeners: it names the dashboard's host too.
  const tls = ca ? await ca.serverTls(pki.serverNames(host, http ? [...flags.san, http.host] : flags.san)) : null;
  const tokenFile = path.join(flags.data, LOCAL_TOKEN_FILE);
  const agentTokenFile = path.join(flags.data, LOCAL_AGENT_TOKEN_FILE);
  await ensureLocalToken(tokens, tokenFile, 'admin', 'local-admin', pki.writeSecretFile);
  await ensureLocalToken(tokens, agentTokenFile, 'agent', 'local-agents', pki.writeSecretFile);
  const auth = new Authenticator({ tokens, identity, tls: ca !== null, log: logLine });
  const { server, port } = await listen(core, { auth, tokens, identity, ca, log: logLine }, host, wanted, tls);
  const dashboard = http && web ? await web.startHttp({ ...http, tls, core, auth, log: logLine, routes: await httpRoutes() }) : null;
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  core.leadership.advertise(flags.advertise ?? address);
  core.start();
  if (!core.leadership.leading) logLine(`standing by: ${core.leadership.leader ? `the leader is at ${core.leadership.leader}` : 'no leader yet'}; this scheduler answers reads and takes the lead when the leader's lease (${flags.leaderLease} s) runs out`);
  process.stdout.write(`listening on ${address}\n`);
  if (dashboard) {
    process.stdout.write(`dashboard on ${dashboard.url}\n`);
    logLine(`dashboard on ${dashboard.url} (sign in with a user or admin token)`);
  }
  logLine(
    `scheduler ${address} (${tls ? `TLS, CA ${path.join(path.resolve(flags.data), 'tls', 'ca.pem')}` : 'plain TCP, loopback only'}), data in ${path.resolve(flags.data)}, lease timeout ${flags.leaseTimeout} s, admin token in ${path.resolve(tokenFile)}, agent token in ${path.resolve(agentTokenFile)}`,
  );
  let agent: InstanceType<typeof Agent> | null = null;
  if (flags.localAgent && !core.leadership.leading) {
    logLine('the embedded agent is not started: this scheduler is a standby (run agents with --scheduler naming the schedulers)');
  } else if (flags.localAgent) {
    const local = pki.isLoopback(host) || host === '0.0.0.0' || host === '::' ? `127.0.0.1:${port}` : address;
    // The embedded agent gets its credential in-process: a certificate under TLS, else a token
    // that the next start revokes (label local-agent).
    let credentials: ClientCredentials;
    if (ca) {
      const keys = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const cert = await ca.agentCertificate(flags.name, keys.publicKey.export({ type: 'spki', format: 'pem' }) as string);
      await identity.recordCertificate(cert.serial, flags.name, cert.expiresAt);
      credentials = { ca: ca.caPem, key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert: cert.pem };
    } else {
      await tokens.revokeLabel('local-agent');
      credentials = { token: (await tokens.create('agent', 0, 'local-agent')).token };
    }
    // Its jobs' processes find nothing in their environment that names the data directory.
    const isolation = { runAs: null, hidden: [path.resolve(flags.data)] };
    // Its metrics (cr_agent_*) are the scheduler's: one /metrics shows both.
    const metrics = new (await import('../agent/metrics.js')).AgentMetrics(() => agent?.running ?? 0, { registry: core.metrics.registry, processMetrics: false });
    agent = new Agent({ scheduler: local, name: flags.name, slots: flags.slots, workDir: path.join(flags.data, 'agent'), credentials, isolation, log: (l) => logLine(`agent: ${l}`), metrics });
    agent.start();
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logLine(`${signal}: shutting down (running jobs on other nodes go on; they reconnect when a scheduler is back)`);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await agent?.close();
  await dashboard?.close();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  await core.close();
}

/**
 * Routes other modules serve on the dashboard's listener, each a Fastify plugin deciding its
 * own access: Prometheus' /metrics (http/metrics.ts).
 */
async function httpRoutes(): Promise<import('../http/server.js').HttpRoutes[]> {
  return [(await import('../http/metrics.js')).metricsRoutes];
}

/**
 * A token of this machine, like Jupyter's token file: the admin token of its CLI, the agent token
 * of agents started on it. Kept while it is valid and of its role, else (revoked, expired,
 * deleted) replaced by a new one. Whoever can read the data directory owns the cluster anyway
 * (CA key, database), so the files add no new secret to protect.
 */
async function ensureLocalToken(tokens: Tokens, file: string, role: Role, label: string, write: (file: string, data: string) => void): Promise<void> {
  try {
    if ((await tokens.verify(fs.readFileSync(file, 'utf8').trim())).role === role) return;
  } catch {
    // missing or no longer valid: make a new one
  }
  try {
    await tokens.revokeLabel(label);
    write(file, `${(await tokens.create(role, 0, label)).token}\n`);
  } catch (err) {
    // A standby writes nothing: the leader (or this scheduler once it leads and starts again) makes the token.
    if ((err as { code?: unknown }).code !== 'CR_NOT_LEADER') throw err;
    logLine(`${file} holds no valid ${role} token, and this standby cannot make one: use a token the leader made`);
  }
}
