// The dashboard's listener over plain HTTP requests (real sockets, a real scheduler core and
// token store): nothing answers without a valid session, the cookie's flags with and without
// TLS, CSRF on every state-changing request, what a user may see and do, and that what a user
// named comes back as data, never markup.
import https from 'node:https';
import test, { type ExecutionContext } from 'ava';
import { ClusterError } from '../../../scheduler/cluster-errors.js';
import { startHttp, type HttpListener } from '../../../scheduler/http/server.js';
import { DASHBOARD_JOBS } from '../../../scheduler/http/views.js';
import { Authenticator } from '../../../scheduler/server/auth.js';
import { NodeIdentity } from '../../../scheduler/server/node-identity.js';
import { ClusterCa, serverNames, type ServerTls } from '../../../scheduler/server/pki.js';
import type { SchedulerCore } from '../../../scheduler/server/scheduler.js';
import { Tokens } from '../../../scheduler/server/tokens.js';
import { tempDir } from '../../runner/helpers.js';
import { core as makeCore } from '../server/helpers.js';

const XSS = '<img src=x onerror=alert(1)>';

interface Setup {
  core: SchedulerCore;
  http: HttpListener;
  admin: string;
  alice: string;
  bob: string;
  aliceJob: number;
  bobJob: number;
}

async function setup(t: ExecutionContext, tls: ServerTls | null = null, dataDir = tempDir(t, 'dash')): Promise<Setup> {
  const core = await makeCore(t, dataDir);
  const tokens = new Tokens(core.db);
  const auth = new Authenticator({ tokens, identity: new NodeIdentity(core.db), tls: tls !== null, log: () => undefined });
  const http = await startHttp({ host: '127.0.0.1', port: 0, tls, core, auth, log: () => undefined });
  t.teardown(() => http.close());
  const admin = (await tokens.create('admin', 0, 'ops')).token;
  const aliceRow = await tokens.create('user', 0, 'alice');
  const bobRow = await tokens.create('user', 0, 'bob');
  const job = async (name: string, owner: { token: string; label: string }) =>
    (await core.submit({ name, code: Buffer.from('export default async () => 1'), argsJson: JSON.stringify({ note: XSS }), retries: 0, priority: 0, intervalMs: 1000, fullEvery: 8 }, owner)).id!;
  const aliceJob = await job(XSS, { token: aliceRow.id, label: 'alice' });
  const bobJob = await job('bobs-job', { token: bobRow.id, label: 'bob' });
  return { core, http, admin, alice: aliceRow.token, bob: bobRow.token, aliceJob, bobJob };
}

/** Signs in; returns the Cookie header value and the session's CSRF token. */
async function signIn(url: string, token: string): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const res = await fetch(`${url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  if (res.status !== 200) throw new Error(`sign-in: ${res.status} ${await res.text()}`);
  const setCookie = res.headers.get('set-cookie') ?? '';
  const cookie = setCookie.split(';')[0]!;
  const session = (await (await fetch(`${url}/api/session`, { headers: { cookie } })).json()) as { csrf: string };
  return { cookie, csrf: session.csrf, setCookie };
}

test('no page, asset, API or stream answers without a valid session; pages send the browser to the sign-in page.', async (t) => {
  const { http, core, admin } = await setup(t);
  const paths = ['/', '/app.js', '/timeline.js', '/vendor/uPlot.iife.min.js', '/api/session', '/api/jobs', '/api/jobs/1', '/api/jobs/1/log', '/api/nodes', '/api/cluster', '/api/live?view=jobs'];
  for (const cookie of [undefined, 'cr-session=', 'cr-session=crt_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'cr-session=not-a-token']) {
    for (const p of paths) {
      const res = await fetch(`${http.url}${p}`, { redirect: 'manual', headers: cookie ? { cookie } : {} });
      if (p === '/') {
        t.is(res.status, 303, `${p} with ${cookie}`);
        t.is(res.headers.get('location'), '/login');
      } else {
        t.is(res.status, 401, `${p} with ${cookie}`);
        t.false((await res.text()).includes('"jobs"'));
      }
    }
    for (const p of ['/api/jobs/1/cancel', '/api/jobs/1/checkpoint', '/api/nodes/n/drain', '/logout']) {
      t.is((await fetch(`${http.url}${p}`, { method: 'POST', headers: cookie ? { cookie } : {} })).status, 401, `POST ${p} with ${cookie}`);
    }
  }
  // The sign-in page and its assets are the only things served without a session.
  for (const p of ['/login', '/login.js', '/style.css']) t.is((await fetch(`${http.url}${p}`)).status, 200, p);
  // An agent token does not sign in; a revoked token ends the session at once.
  const agent = (await new Tokens(core.db).create('agent', 0, 'a')).token;
  const refused = await fetch(`${http.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: agent }) });
  t.is(refused.status, 403);
  t.regex(((await refused.json()) as { error: string }).error, /agent token/);
  const { cookie } = await signIn(http.url, admin);
  t.is((await fetch(`${http.url}/api/jobs`, { headers: { cookie } })).status, 200);
  // Awaited: on PostgreSQL the revoke is a round trip, and a request sent before it commits still finds the token good.
  await new Tokens(core.db).revoke(/^crt_([0-9a-f]{12})_/.exec(admin)![1]!);
  const after = await fetch(`${http.url}/api/jobs`, { headers: { cookie } });
  t.is(after.status, 401);
  t.regex(((await after.json()) as { error: string }).error, /revoked/);
});

test('the session cookie is HttpOnly and SameSite=Strict, Secure with the __Host- prefix under TLS, and the token is never in a URL.', async (t) => {
  const plain = await setup(t);
  const { setCookie } = await signIn(plain.http.url, plain.admin);
  t.regex(setCookie, /^cr-session=crt_[0-9a-f]{12}_/);
  t.regex(setCookie, /; HttpOnly/);
  t.regex(setCookie, /; SameSite=Strict/);
  t.regex(setCookie, /; Path=\//);
  t.notRegex(setCookie, /Secure|Domain|Expires|Max-Age/i);

  const dir = tempDir(t, 'dash-tls');
  const ca = await ClusterCa.open(dir);
  const tls = await ca.serverTls(serverNames('127.0.0.1'));
  const secure = await setup(t, tls, dir);
  t.true(secure.http.url.startsWith('https://'));
  const res = await new Promise<{ status: number; setCookie: string[] }>((resolve, reject) => {
    const body = JSON.stringify({ token: secure.admin });
    const req = https.request(`${secure.http.url}/login`, { method: 'POST', ca: tls.caPem, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (r) => {
      r.resume();
      r.on('end', () => resolve({ status: r.statusCode ?? 0, setCookie: r.headers['set-cookie'] ?? [] }));
    });
    req.on('error', reject);
    req.end(body);
  });
  t.is(res.status, 200);
  t.regex(res.setCookie[0]!, /^__Host-cr-session=crt_/);
  for (const flag of ['HttpOnly', 'SameSite=Strict', 'Secure', 'Path=/']) t.true(res.setCookie[0]!.split('; ').includes(flag), flag);
  // Signing in takes the token in a POST body only: a token in the query signs nobody in.
  const viaUrl = await fetch(`${plain.http.url}/api/jobs?token=${encodeURIComponent(plain.admin)}`);
  t.is(viaUrl.status, 401);
});

test('off loopback the dashboard needs TLS: without it the listener refuses to start.', async (t) => {
  const c = await makeCore(t, tempDir(t, 'dash-open'));
  const tokens = new Tokens(c.db);
  const auth = new Authenticator({ tokens, identity: new NodeIdentity(c.db), tls: false, log: () => undefined });
  const err = await t.throwsAsync(startHttp({ host: '0.0.0.0', port: 0, tls: null, core: c, auth, log: () => undefined }), { instanceOf: ClusterError });
  t.regex(err!.message, /without TLS/);
});

test('state-changing requests need the session\'s CSRF token, and a sign-in from another origin is refused.', async (t) => {
  const { http, core, alice, aliceJob } = await setup(t);
  const { cookie, csrf } = await signIn(http.url, alice);
  // Another scheduler's session: its CSRF token means nothing here.
  const second = await setup(t);
  const other = await signIn(second.http.url, second.admin);
  for (const header of [undefined, '', 'x'.repeat(43), csrf.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')), other.csrf]) {
    const res = await fetch(`${http.url}/api/jobs/${aliceJob}/cancel`, { method: 'POST', headers: { cookie, ...(header === undefined ? {} : { 'x-csrf-token': header }) } });
    t.is(res.status, 403, `csrf ${header}`);
    t.regex(((await res.json()) as { error: string }).error, /x-csrf-token/);
  }
  t.is((await core.jobs.get(aliceJob))!.state, 'queued', 'nothing was cancelled');
  const ok = await fetch(`${http.url}/api/jobs/${aliceJob}/cancel`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf } });
  t.is(ok.status, 200);
  t.is((await core.jobs.get(aliceJob))!.state, 'cancelled');
  const cross = await fetch(`${http.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: 'https://evil.example' }, body: JSON.stringify({ token: alice }) });
  t.is(cross.status, 403);
  t.is(cross.headers.get('set-cookie'), null);
});

test('a user sees and acts on its own jobs only; draining a node needs an admin.', async (t) => {
  const { http, core, alice, bob, admin, aliceJob, bobJob } = await setup(t);
  const a = await signIn(http.url, alice);
  const jobs = (await (await fetch(`${http.url}/api/jobs`, { headers: { cookie: a.cookie } })).json()) as { jobs: { id: number }[] };
  t.deepEqual(jobs.jobs.map((j) => j.id), [aliceJob]);
  t.is((await fetch(`${http.url}/api/jobs/${bobJob}`, { headers: { cookie: a.cookie } })).status, 404);
  t.is((await fetch(`${http.url}/api/jobs/${bobJob}/log`, { headers: { cookie: a.cookie } })).status, 404);
  const cancel = await fetch(`${http.url}/api/jobs/${bobJob}/cancel`, { method: 'POST', headers: { cookie: a.cookie, 'x-csrf-token': a.csrf } });
  t.is(cancel.status, 403);
  t.regex(((await cancel.json()) as { error: string }).error, /belongs to bob/);
  t.is((await core.jobs.get(bobJob))!.state, 'queued');
  const drain = await fetch(`${http.url}/api/nodes/n1/drain`, { method: 'POST', headers: { cookie: a.cookie, 'x-csrf-token': a.csrf } });
  t.is(drain.status, 403);
  t.regex(((await drain.json()) as { error: string }).error, /Drain needs an admin/);
  const b = await signIn(http.url, bob);
  const bobs = (await (await fetch(`${http.url}/api/jobs`, { headers: { cookie: b.cookie } })).json()) as { jobs: { id: number }[] };
  t.deepEqual(bobs.jobs.map((j) => j.id), [bobJob]);
  const ad = await signIn(http.url, admin);
  const all = (await (await fetch(`${http.url}/api/jobs`, { headers: { cookie: ad.cookie } })).json()) as { jobs: { id: number }[] };
  t.deepEqual(all.jobs.map((j) => j.id).sort(), [aliceJob, bobJob].sort());
  const missing = await fetch(`${http.url}/api/nodes/nope/drain`, { method: 'POST', headers: { cookie: ad.cookie, 'x-csrf-token': ad.csrf } });
  t.is(missing.status, 404);
  t.regex(((await missing.json()) as { error: string }).error, /no node "nope"/);
});

test('the jobs page holds the newest 1000 of a user\'s jobs and says older ones were left out; the cluster page counts them all, the user\'s own only.', async (t) => {
  const { http, core, alice, admin, aliceJob } = await setup(t);
  const aliceOwner = (await core.owners.of(aliceJob))!;
  const more: number[] = [];
  for (let i = 0; i < DASHBOARD_JOBS; i++) more.push((await core.submit({ name: `j${i}`, code: Buffer.from('export default async () => 1'), argsJson: '{}', retries: 0, priority: 0, intervalMs: 1000, fullEvery: 8 }, aliceOwner)).id!);
  await core.cancel(more[0]!);
  const a = await signIn(http.url, alice);
  const page = (await (await fetch(`${http.url}/api/jobs`, { headers: { cookie: a.cookie } })).json()) as { jobs: { id: number }[]; more: boolean };
  t.is(page.jobs.length, DASHBOARD_JOBS);
  t.deepEqual(page.jobs.map((j) => j.id), more, 'the newest, oldest first; the first job was left out');
  t.true(page.more);
  const cluster = (await (await fetch(`${http.url}/api/cluster`, { headers: { cookie: a.cookie } })).json()) as { jobs: Record<string, number> };
  t.deepEqual(cluster.jobs, { queued: DASHBOARD_JOBS, cancelled: 1 }, "alice's 1001 jobs, not bob's");
  const ad = await signIn(http.url, admin);
  const all = (await (await fetch(`${http.url}/api/cluster`, { headers: { cookie: ad.cookie } })).json()) as { jobs: Record<string, number> };
  t.deepEqual(all.jobs, { queued: DASHBOARD_JOBS + 1, cancelled: 1 }, 'every job, for an admin');
});

test('what a user named is served as JSON data, and the pages allow no inline script that could run it.', async (t) => {
  const { http, alice, aliceJob } = await setup(t);
  const { cookie } = await signIn(http.url, alice);
  const res = await fetch(`${http.url}/api/jobs/${aliceJob}`, { headers: { cookie } });
  t.regex(res.headers.get('content-type') ?? '', /^application\/json/);
  t.is(res.headers.get('x-content-type-options'), 'nosniff');
  const view = (await res.json()) as { job: { name: string; args: string } };
  t.is(view.job.name, XSS);
  t.is(JSON.parse(view.job.args).note, XSS);
  const page = await fetch(`${http.url}/`, { headers: { cookie } });
  t.is(page.status, 200);
  const csp = page.headers.get('content-security-policy') ?? '';
  t.regex(csp, /script-src 'self'(;|$)/);
  t.notRegex(csp, /unsafe-inline|unsafe-eval/);
  t.is(page.headers.get('x-frame-options'), 'DENY');
  const html = await page.text();
  t.false(html.includes(XSS));
  t.notRegex(html, /<script>(?!<\/script>)/, 'no inline script in the page');
  // The pages build the DOM from text: no innerHTML, outerHTML, insertAdjacentHTML or document.write.
  for (const asset of ['/app.js', '/timeline.js', '/login.js']) {
    const js = await (await fetch(`${http.url}${asset}`, { headers: { cookie } })).text();
    t.notRegex(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/, asset);
  }
  // A live stream carries the name as JSON text too.
  const controller = new AbortController();
  const live = await fetch(`${http.url}/api/live?view=jobs`, { headers: { cookie }, signal: controller.signal });
  t.regex(live.headers.get('content-type') ?? '', /^text\/event-stream/);
  const reader = live.body!.getReader();
  let text = '';
  while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
  controller.abort();
  t.regex(text, /^event: view\ndata: /);
  t.is((JSON.parse(text.split('\n')[1]!.slice(6)) as { jobs: { name: string }[] }).jobs[0]!.name, XSS);
});
