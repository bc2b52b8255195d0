// `/metrics` over HTTP, in Prometheus' text format (docs/observability.md): a Fastify plugin the
// scheduler's HTTP listener registers with its SchedulerMetrics' registry, and a listener of its
// own for `agent --metrics` (an agent has no other HTTP server). The metric objects themselves are
// built where the events happen: server/metrics.ts (the scheduler), agent/metrics.ts (an agent).
import * as grpc from '@grpc/grpc-js';
import Fastify, { type FastifyPluginAsync, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { AuthError, type Authenticator } from '../server/auth.js';
import type { SchedulerCore } from '../server/scheduler.js';

export { SchedulerMetrics } from '../server/metrics.js';
export { AgentMetrics } from '../agent/metrics.js';

export interface MetricsPluginOptions {
  /** What is served: `core.metrics.withProcessMetrics().registry` on the scheduler. */
  registry: Registry;
  /**
   * Whether a request may read the metrics (the scheduler's listener checks its bearer token
   * here); default: everyone who reaches the listener. A refused request gets 401.
   */
  authorize?: (request: FastifyRequest) => boolean | Promise<boolean>;
}

/** GET /metrics (and HEAD): the registry's current values. */
export const metricsPlugin: FastifyPluginAsync<MetricsPluginOptions> = async (app, { registry, authorize }) => {
  app.get('/metrics', async (request, reply) => {
    if (authorize !== undefined && !(await authorize(request))) {
      return reply.code(401).header('www-authenticate', 'Bearer').type('text/plain; charset=utf-8').send('a valid token is needed to read the metrics (Authorization: Bearer TOKEN)\n');
    }
    const text = await registry.metrics();
    return reply.type(registry.contentType).header('cache-control', 'no-store').send(text);
  });
};

/**
 * The scheduler's /metrics on its HTTP listener (serve --http registers it beside the dashboard):
 * the core's registry with the process metrics, readable with `Authorization: Bearer TOKEN` by
 * whoever may list the cluster's nodes (a user or admin token, checked by the scheduler's
 * Authenticator as a ListNodes call; refusals are logged as gRPC ones are). The metrics hold no
 * job or user data, but the listener may face the network.
 */
export const metricsRoutes: FastifyPluginAsync<{ core: SchedulerCore; auth: Authenticator }> = async (app, { core, auth }) => {
  await app.register(metricsPlugin, { registry: core.metrics.withProcessMetrics().registry, authorize: (request) => mayRead(auth, request) });
};

async function mayRead(auth: Authenticator, request: FastifyRequest): Promise<boolean> {
  const metadata = new grpc.Metadata();
  const header = request.headers.authorization;
  if (typeof header === 'string') metadata.set('authorization', header);
  try {
    await auth.check('ListNodes', { metadata, getPeer: () => `http ${request.ip}`, emit: () => false });
    return true;
  } catch (err) {
    if (err instanceof AuthError) return false;
    throw err;
  }
}

export interface MetricsListener {
  /** http://HOST:PORT/metrics, with the port bound (useful with port 0). */
  url: string;
  close(): Promise<void>;
}

/** A listener that serves only /metrics (`agent --metrics`). */
export async function serveMetrics(host: string, port: number, registry: Registry): Promise<MetricsListener> {
  const app = Fastify({ logger: false });
  await app.register(metricsPlugin, { registry });
  try {
    await app.listen({ host, port });
  } catch (err) {
    await app.close();
    throw new MetricsListenError(`cannot serve metrics on ${host}:${port}: ${(err as Error).message}`, { cause: err });
  }
  const address = app.server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}/metrics`, close: () => app.close() };
}

/** The metrics listener could not bind its address (in use, not this machine's, not allowed). */
export class MetricsListenError extends Error {
  readonly code = 'CR_METRICS_LISTEN';
}
