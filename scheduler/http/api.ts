// The dashboard's JSON API, behind a signed-in session (the gate in dashboard.ts). Reads go
// through views.ts; actions through the same core methods, ownership checks (owners.ts) and
// role table (auth.ts ALLOWED) as the gRPC handlers, and each needs the session's CSRF token.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ALLOWED, AuthError, type Caller } from '../server/auth.js';
import { SchedulerError, type SchedulerCore } from '../server/scheduler.js';
import { isStorageError, STORAGE_FULL } from '../server/storage.js';
import { refuse, type Sessions } from './session.js';
import { clusterView, jobsView, jobView, logView, nodesView } from './views.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the dashboard's gate for every route behind it. */
    caller: Caller | null;
  }
}

const HTTP_STATUS: Record<SchedulerError['status'], number> = {
  NOT_FOUND: 404,
  FAILED_PRECONDITION: 409,
  INVALID_ARGUMENT: 400,
  RESOURCE_EXHAUSTED: 503,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
  PERMISSION_DENIED: 403,
};

/** A refusal of the core or the auth module as an HTTP answer with its message; anything else is a 500 without details. */
export function answerError(reply: FastifyReply, err: unknown, log: (line: string) => void): FastifyReply {
  if (err instanceof AuthError) return refuse(reply, err);
  if (err instanceof SchedulerError) return reply.code(HTTP_STATUS[err.status] ?? 400).send({ error: err.message });
  if (isStorageError(err)) return reply.code(503).send({ error: `${STORAGE_FULL}: ${(err as Error).message}` });
  log(`dashboard: error: ${(err as Error)?.stack ?? String(err)}`);
  return reply.code(500).send({ error: 'internal error (the scheduler log has it)' });
}

/** The role table of the gRPC service decides here too. */
function mayCall(caller: Caller, method: string): void {
  if (!ALLOWED[caller.role].has(method)) throw new AuthError('PERMISSION_DENIED', `${method} needs an admin token; you signed in with ${caller.via}`);
}

/** A positive job id from a path parameter, else INVALID_ARGUMENT. */
function jobId(request: FastifyRequest): number {
  const raw = (request.params as { id?: string }).id ?? '';
  if (!/^[1-9]\d{0,9}$/.test(raw)) throw new SchedulerError('INVALID_ARGUMENT', `${JSON.stringify(raw.slice(0, 40))} is not a job id`);
  return Number(raw);
}

export function apiRoutes(app: FastifyInstance, core: SchedulerCore, sessions: Sessions, log: (line: string) => void): void {
  const caller = (request: FastifyRequest): Caller => request.caller!;
  const handle = (fn: (request: FastifyRequest) => Promise<unknown>) => async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      return await reply.send(await fn(request));
    } catch (err) {
      return answerError(reply, err, log);
    }
  };
  const action = (method: string, fn: (request: FastifyRequest, who: Caller) => Promise<unknown>) =>
    handle(async (request) => {
      const who = caller(request);
      sessions.checkCsrf(request, who);
      mayCall(who, method);
      return await fn(request, who);
    });

  app.get('/api/session', handle(async (request) => {
    const who = caller(request);
    return { role: who.role, via: who.via, csrf: sessions.csrf(who) };
  }));
  app.get('/api/jobs', handle(async (request) => jobsView(core, caller(request))));
  app.get('/api/jobs/:id', handle(async (request) => {
    const id = jobId(request);
    const view = await jobView(core, caller(request), id);
    if (view === undefined) throw new SchedulerError('NOT_FOUND', `no job ${id} that you may see`);
    return view;
  }));
  app.get('/api/jobs/:id/log', handle(async (request) => {
    const id = jobId(request);
    const after = Number((request.query as { after?: string }).after ?? 0);
    const view = await logView(core, caller(request), id, Number.isSafeInteger(after) && after > 0 ? after : 0);
    if (view === undefined) throw new SchedulerError('NOT_FOUND', `no job ${id} that you may see`);
    return view;
  }));
  app.get('/api/nodes', handle(async () => ({ nodes: await nodesView(core) })));
  app.get('/api/cluster', handle(async (request) => clusterView(core, caller(request))));

  app.post('/api/jobs/:id/cancel', action('Cancel', async (request, who) => {
    const id = jobId(request);
    await core.owners.check(who, 'cancel', id);
    log(`dashboard: job ${id} cancelled by ${who.via}`);
    return { job: await core.cancel(id) };
  }));
  app.post('/api/jobs/:id/checkpoint', action('Checkpoint', async (request, who) => {
    const id = jobId(request);
    await core.owners.check(who, 'checkpoint', id);
    return { job: await core.checkpoint(id) };
  }));
  app.post('/api/nodes/:name/drain', action('Drain', async (request, who) => {
    const name = (request.params as { name: string }).name;
    const undo = (request.body as { undo?: unknown } | undefined)?.undo === true;
    log(`dashboard: node ${name} ${undo ? 'undrained' : 'drained'} by ${who.via}`);
    return { node: await core.drain(name, undo) };
  }));
}
