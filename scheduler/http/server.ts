// The scheduler's HTTP listener (`serve --http HOST:PORT`): the dashboard, and whatever other
// modules add as Fastify plugins (`routes`, e.g. Prometheus metrics). Off loopback it speaks
// TLS only, with the scheduler's certificate, as the gRPC port does: the dashboard carries
// tokens and shows job data.
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import { ClusterError } from '../cluster-errors.js';
import type { Authenticator } from '../server/auth.js';
import { isLoopback, type ServerTls } from '../server/pki.js';
import type { SchedulerCore } from '../server/scheduler.js';
import { dashboard } from './dashboard.js';
import { DEFAULT_LIVE_INTERVAL_MS } from './live.js';
import { Sessions } from './session.js';

/** A module's routes on the listener; each decides who may call them (the dashboard's session gate does not cover them). */
export type HttpRoutes = FastifyPluginAsync<{ core: SchedulerCore; auth: Authenticator }>;

export interface HttpOptions {
  host: string;
  /** 0: any free port. */
  port: number;
  /** The scheduler's TLS material; null: plain HTTP, allowed on loopback only. */
  tls: ServerTls | null;
  core: SchedulerCore;
  auth: Authenticator;
  log: (line: string) => void;
  /** More routes on the same listener (registered at the root, outside the dashboard's gate). */
  routes?: readonly HttpRoutes[];
  /** How often live views look for changes, ms (default DEFAULT_LIVE_INTERVAL_MS). */
  liveIntervalMs?: number;
}

export interface HttpListener {
  app: FastifyInstance;
  port: number;
  /** http://HOST:PORT or https://HOST:PORT. */
  url: string;
  close(): Promise<void>;
}

export async function startHttp(options: HttpOptions): Promise<HttpListener> {
  const { host, tls } = options;
  if (tls === null && !isLoopback(host)) {
    throw new ClusterError(`refusing to serve the dashboard on ${host} without TLS: tokens and job data would cross the network in clear. Serve with TLS (drop --no-tls), or use --http 127.0.0.1:PORT`);
  }
  const app = Fastify({
    logger: false,
    bodyLimit: 64 << 10,
    // Live streams are long requests: closing the listener ends them instead of waiting.
    forceCloseConnections: true,
    ...(tls ? { https: { key: tls.keyPem, cert: tls.certPem } } : {}),
  }) as unknown as FastifyInstance;
  const sessions = new Sessions({ auth: options.auth, tls: tls !== null });
  await app.register(dashboard, { core: options.core, sessions, log: options.log, liveIntervalMs: options.liveIntervalMs ?? DEFAULT_LIVE_INTERVAL_MS });
  for (const routes of options.routes ?? []) await app.register(routes, { core: options.core, auth: options.auth });
  try {
    await app.listen({ host, port: options.port });
  } catch (err) {
    throw new ClusterError(`cannot serve the dashboard on ${host}:${options.port}: ${(err as Error).message}`);
  }
  const port = (app.server.address() as { port: number }).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return { app, port, url: `${tls ? 'https' : 'http'}://${shown}:${port}`, close: () => app.close() };
}

