// The dashboard as a Fastify plugin: the sign-in page and its assets (the only things served
// without a session), the gate every other page, asset, API and stream is behind, and the
// headers that keep the pages to their own scripts (a Content-Security-Policy without inline
// scripts: a value that slipped past escaping still cannot run).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AuthError } from '../server/auth.js';
import type { SchedulerCore } from '../server/scheduler.js';
import { answerError, apiRoutes } from './api.js';
import { liveRoutes } from './live.js';
import { refuse, type Sessions } from './session.js';

/** scheduler/http/public in the package (this file runs from dist/scheduler/http/). */
export const PUBLIC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../scheduler/http/public');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

interface Asset {
  body: Buffer;
  type: string;
}

/** The files the dashboard serves, read once: a fixed list, so no request path reaches the file system. */
function loadAssets(): { open: Map<string, Asset>; gated: Map<string, Asset> } {
  const require = createRequire(import.meta.url);
  const file = (p: string): Asset => ({ body: fs.readFileSync(p), type: TYPES[path.extname(p)] ?? 'application/octet-stream' });
  const pub = (name: string) => file(path.join(PUBLIC_DIR, name));
  const open = new Map<string, Asset>([
    ['/login', pub('login.html')],
    ['/login.js', pub('login.js')],
    ['/style.css', pub('style.css')],
  ]);
  const gated = new Map<string, Asset>([
    ['/', pub('index.html')],
    ['/app.js', pub('app.js')],
    ['/timeline.js', pub('timeline.js')],
    ['/vendor/uPlot.iife.min.js', file(require.resolve('uplot/dist/uPlot.iife.min.js'))],
    ['/vendor/uPlot.min.css', file(require.resolve('uplot/dist/uPlot.min.css'))],
  ]);
  return { open, gated };
}

export interface DashboardOptions {
  core: SchedulerCore;
  sessions: Sessions;
  liveIntervalMs: number;
  log: (line: string) => void;
}

export async function dashboard(app: FastifyInstance, options: DashboardOptions): Promise<void> {
  const { core, sessions, log } = options;
  const { open, gated } = loadAssets();
  app.decorateRequest('caller', null);
  app.addHook('onSend', async (_request, reply) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) if (!reply.hasHeader(name)) reply.header(name, value);
  });
  const serve = (asset: Asset) => async (_request: FastifyRequest, reply: FastifyReply) => reply.type(asset.type).send(asset.body);
  for (const [url, asset] of open) app.get(url, serve(asset));

  app.post('/login', async (request, reply) => {
    // A sign-in posted from another site would sign the victim in as someone else.
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== `${request.protocol}://${request.headers.host}`) return refuse(reply, new AuthError('PERMISSION_DENIED', 'sign-in from another origin refused'));
    const token = (request.body as { token?: unknown } | undefined)?.token;
    if (typeof token !== 'string' || token.length === 0 || token.length > 200) return reply.code(400).send({ error: 'paste a user or admin token (cr-scheduler token create --role user)' });
    try {
      const caller = await sessions.signIn(token);
      log(`dashboard: signed in with ${caller.via} from ${request.ip}`);
      return await reply.header('set-cookie', sessions.setCookie(token.trim())).send({ role: caller.role });
    } catch (err) {
      if (err instanceof AuthError) log(`dashboard: sign-in refused from ${request.ip}: ${err.message}`);
      return answerError(reply, err, log);
    }
  });

  // Everything below answers only a valid session: pages send the browser to /login, the rest get 401.
  await app.register(async (inner) => {
    inner.addHook('onRequest', async (request, reply) => {
      try {
        request.caller = await sessions.caller(request);
      } catch (err) {
        if (!(err instanceof AuthError)) return answerError(reply, err, log);
        if (request.method === 'GET' && gated.get(request.url)?.type.startsWith('text/html')) {
          return reply.header('set-cookie', sessions.setCookie(null)).redirect('/login', 303);
        }
        return refuse(reply, err);
      }
    });
    for (const [url, asset] of gated) inner.get(url, serve(asset));
    inner.post('/logout', async (request, reply) => {
      try {
        sessions.checkCsrf(request, request.caller!);
      } catch (err) {
        return answerError(reply, err, log);
      }
      return reply.header('set-cookie', sessions.setCookie(null)).send({ signedOut: true });
    });
    apiRoutes(inner, core, sessions, log);
    liveRoutes(inner, core, sessions, options.liveIntervalMs);
  });
}
