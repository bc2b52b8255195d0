// The agent's code cache: a job's bundle fetched from a real scheduler process is cached whole
// (temp file, fsync, link, fsync of the directory), once, whoever of the agent's slots asks.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { fetchCode } from '../../../scheduler/agent/code.js';
import { schedulerClient, unary } from '../../../scheduler/proto/load.js';
import { tempDir } from '../../runner/helpers.js';
import { adminToken, createToken, startScheduler } from '../helpers.js';

test("Job code is cached whole under its sha256, once, by slots fetching it at the same time, leaving no temp file; damaged code is refused.", async (t) => {
  const scheduler = await startScheduler(t);
  const admin = schedulerClient(scheduler.address, { token: adminToken(scheduler.address) });
  const agent = schedulerClient(scheduler.address, { token: await createToken(scheduler.address, 'agent') });
  // The agent token's first Connect binds it to its node: only then may it fetch code.
  const connect = agent.Connect({ node: 'n1', slots: 1, running: [], version: 'test' });
  connect.on('error', () => undefined);
  await new Promise((resolve) => connect.once('data', resolve));
  t.teardown(() => {
    connect.cancel();
    admin.close();
    agent.close();
  });
  const code = Buffer.from('export default async () => 42;\n');
  await unary(admin, 'Submit', { name: 'cached', code, argsJson: '{}', retries: 0 });
  const sha256 = createHash('sha256').update(code).digest('hex');
  const dir = tempDir(t, 'code');
  const files = await Promise.all([1, 2, 3].map(() => fetchCode(agent, dir, sha256)));
  t.deepEqual(new Set(files), new Set([path.join(dir, `${sha256}.mjs`)]));
  t.deepEqual(fs.readFileSync(files[0]!), code);
  t.deepEqual(fs.readdirSync(dir), [`${sha256}.mjs`], 'no temp file is left');
  // Cached: a second fetch reads nothing from the scheduler.
  t.is(await fetchCode(agent, dir, sha256), files[0]);
  await t.throwsAsync(fetchCode(agent, dir, 'ff'.repeat(32)), { message: /no job code with sha256/ });
  t.deepEqual(fs.readdirSync(dir), [`${sha256}.mjs`]);
});
