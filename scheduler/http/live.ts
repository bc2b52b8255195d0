// Live views by server-sent events: the page opens one stream per view and the server pushes a
// view again only when it changed (compared as JSON), and a job's new log lines as they are
// recorded. The server looks every `intervalMs`, as one reader of the database, however many
// tabs are open; the browser never polls. The session is checked again at every look, so a
// revoked token ends the stream.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Caller } from '../server/auth.js';
import type { SchedulerCore } from '../server/scheduler.js';
import type { Sessions } from './session.js';
import { clusterView, jobsView, jobView, logView, nodesView } from './views.js';

/** How often a stream looks for changes, ms. */
export const DEFAULT_LIVE_INTERVAL_MS = 1000;
/** A comment line this often keeps proxies from closing an idle stream, ms. */
const KEEPALIVE_MS = 15_000;

type View = 'jobs' | 'job' | 'nodes' | 'cluster';

export function liveRoutes(app: FastifyInstance, core: SchedulerCore, sessions: Sessions, intervalMs: number): void {
  app.get('/api/live', async (request, reply) => {
    const query = request.query as { view?: string; id?: string };
    const view = query.view as View;
    if (!['jobs', 'job', 'nodes', 'cluster'].includes(view)) return reply.code(400).send({ error: 'view must be jobs, job, nodes or cluster' });
    const id = Number(query.id ?? 0);
    if (view === 'job' && !(Number.isSafeInteger(id) && id > 0)) return reply.code(400).send({ error: 'view=job needs id=JOB' });
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-accel-buffering': 'no',
    });
    let last = '';
    let after = 0;
    let busy = false;
    let lastWrite = Date.now();
    const open = (): boolean => !res.destroyed && !res.writableEnded;
    const send = (event: string, data: unknown): void => {
      if (!open()) return;
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      lastWrite = Date.now();
    };
    const look = async (): Promise<void> => {
      if (busy || !open()) return;
      busy = true;
      try {
        let who: Caller;
        try {
          who = await sessions.caller(request as FastifyRequest);
        } catch {
          send('signed-out', { error: 'the session ended: sign in again' });
          stop();
          return;
        }
        const data = await viewOf(core, who, view, id);
        const json = JSON.stringify(data ?? null);
        if (json !== last && open()) {
          last = json;
          res.write(`event: view\ndata: ${json}\n\n`);
          lastWrite = Date.now();
        }
        if (view === 'job' && data !== undefined) {
          const log = await logView(core, who, id, after);
          if (log !== undefined && log.lines.length > 0) {
            after = log.lines[log.lines.length - 1]!.id;
            send('log', log.lines);
          }
        }
        if (Date.now() - lastWrite >= KEEPALIVE_MS && open()) {
          res.write(': keep-alive\n\n');
          lastWrite = Date.now();
        }
      } catch (err) {
        send('problem', { error: (err as Error)?.message ?? String(err) });
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => void look().catch(() => undefined), intervalMs);
    const stop = (): void => {
      clearInterval(timer);
      if (!res.destroyed) res.end();
    };
    // The response's close: the browser went away (or the listener closed). A write to a
    // connection that broke meanwhile is an 'error' of the response, not of the scheduler.
    res.on('close', () => clearInterval(timer));
    res.on('error', () => clearInterval(timer));
    await look();
  });
}

async function viewOf(core: SchedulerCore, who: Caller, view: View, id: number): Promise<unknown> {
  switch (view) {
    case 'jobs':
      return await jobsView(core, who);
    case 'job':
      return await jobView(core, who, id);
    case 'nodes':
      return { nodes: await nodesView(core) };
    case 'cluster':
      return await clusterView(core, who);
  }
}
