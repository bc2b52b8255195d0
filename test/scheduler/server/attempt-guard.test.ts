// The attempt guard on a real scheduler core: an attempt's secret reaches only its node's
// assignment, and a call for the attempt passes only from that node with that secret; each
// refusal leaves an event naming the caller and changes nothing.
import test from 'ava';
import { AuthError, type Caller } from '../../../scheduler/server/auth.js';
import { core, Sink, submit } from './helpers.js';

const node = (name: string): Caller => ({ role: 'agent', node: name, token: null, via: `certificate of ${name}` });

async function refused(t: import('ava').ExecutionContext, fn: () => Promise<unknown>, why: RegExp): Promise<void> {
  const err = await t.throwsAsync(fn, { instanceOf: AuthError });
  t.is(err?.status, 'PERMISSION_DENIED');
  t.regex(err?.message ?? '', why);
}

test("An attempt's secret goes only to its node; the guard passes that node with that secret and refuses every other caller, leaving an event.", async (t) => {
  const c = await core(t);
  const [a, b] = [new Sink(), new Sink()];
  await c.connect({ node: 'a', slots: 1, running: [], version: 't' }, a);
  const id = await submit(c);
  await c.connect({ node: 'b', slots: 1, running: [], version: 't' }, b);
  const [assign] = a.of('assign');
  const secret = assign!.assign!.secret!;
  t.is(Buffer.from(secret, 'base64url').length, 32, '256 random bits');
  t.deepEqual(b.of('assign'), [], 'the other node got nothing');
  t.false(JSON.stringify(await c.db.q.selectFrom('attempt_secrets').selectAll().execute()).includes(secret), 'only its hash is stored');
  await c.attempts.check(node('a'), 'Report', id, 1, secret);
  await refused(t, () => c.attempts.check(node('b'), 'Finish', id, 1, secret), /certificate of b may not Finish for attempt 1 of job \d+: the attempt was given to another node/);
  await refused(t, () => c.attempts.check(node('a'), 'Finish', id, 1, ''), /secret is missing or wrong/);
  await refused(t, () => c.attempts.check(node('a'), 'Finish', id, 1, `${secret.slice(0, -2)}AA`), /secret is missing or wrong/);
  await refused(t, () => c.attempts.check(node('a'), 'Finish', id, 2, secret), /no such attempt/);
  await refused(t, () => c.attempts.check({ role: 'user', node: null, token: 'x', via: 'token x (user)' }, 'Report', id, 1, secret), /only the node running an attempt/);
  const texts = (await c.jobs.events(id, 0)).map((e) => e.text).filter((x) => x.startsWith('refused'));
  t.is(texts.length, 5);
  t.true(texts[0]!.startsWith('refused Finish from certificate of b: '));
  t.like(await c.jobs.get(id), { state: 'running', node: 'a', attempt: 1 });
});

test("A superseded attempt's node still passes the guard with its own secret: the fencing check then calls it stale.", async (t) => {
  const c = await core(t);
  const a = new Sink();
  await c.connect({ node: 'a', slots: 1, running: [], version: 't' }, a);
  const id = await submit(c);
  const old = a.of('assign')[0]!.assign!.secret!;
  // The node reconnects without the attempt: it is requeued and placed again as attempt 2.
  const again = new Sink();
  await c.connect({ node: 'a', slots: 1, running: [], version: 't' }, again);
  const fresh = again.of('assign')[0]!.assign!;
  t.is(fresh.attempt, 2);
  t.not(fresh.secret, old);
  await c.attempts.check(node('a'), 'Finish', id, 1, old);
  t.false(await c.finish({ job: id, attempt: 1, outcome: 'SUCCEEDED', resultJson: '1', errorJson: '', retryable: false }), 'stale');
  await refused(t, () => c.attempts.check(node('a'), 'Finish', id, 2, old), /secret is missing or wrong/);
});
