// `cr-scheduler agent` as a user meets it beside a local scheduler: the agent token that `serve`
// writes is its default credential, its default name is the host name, and a credential the
// scheduler refuses ends it with the reason and exit 1 instead of retrying forever.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { defaultNodeName } from '../../../scheduler/commands/serve.js';
import { runCli, show, STACK_FRAME, startCli, tempDir } from '../../runner/helpers.js';
import { adminToken, createToken, startScheduler } from '../helpers.js';

test('serve writes an agent token (mode 0600); an agent pointed at its data directory uses it and registers under the host name.', async (t) => {
  const scheduler = await startScheduler(t);
  const file = path.join(scheduler.dataDir, 'agent.token');
  t.is(fs.statSync(file).mode & 0o777, 0o600);
  t.regex(fs.readFileSync(file, 'utf8'), /^crt_\S+\n$/);
  const agent = startCli(t, ['agent', '--scheduler', scheduler.address, '--work', tempDir(t, 'agent-work')], { CR_DATA: scheduler.dataDir });
  await agent.waitForStderr(new RegExp(`registered with the scheduler at ${scheduler.address} as node ${defaultNodeName()} `));
  const nodes = await runCli(t, ['nodes', '--json', ...scheduler.args]);
  t.is(nodes.code, 0, show(nodes));
  t.true((JSON.parse(nodes.stdout) as { name: string }[]).some((n) => n.name === defaultNodeName()), nodes.stdout);
});

test('An agent whose token has the wrong role is refused: it says why and exits 1, without a stack trace.', async (t) => {
  const scheduler = await startScheduler(t);
  const agent = startCli(t, ['agent', '--scheduler', scheduler.address, '--name', 'n1', '--work', tempDir(t, 'agent-work')], { CR_TOKEN: adminToken(scheduler.address) });
  const exit = await agent.exit;
  t.is(exit.code, 1, agent.describe());
  t.regex(exit.stderr, new RegExp(`^cr-scheduler: the scheduler at ${scheduler.address} refused this agent: Connect needs the role agent; this call came with the role admin .*--token-file or CR_TOKEN_FILE$`, 'm'));
  t.notRegex(exit.stderr, STACK_FRAME);
});

test('An agent whose token was revoked is refused: it says so and exits 1.', async (t) => {
  const scheduler = await startScheduler(t);
  const token = await createToken(scheduler.address, 'agent');
  const id = /^crt_([^_]+)_/.exec(token)![1]!;
  const revoked = await runCli(t, ['token', 'revoke', id, ...scheduler.args]);
  t.is(revoked.code, 0, show(revoked));
  const agent = startCli(t, ['agent', '--scheduler', scheduler.address, '--name', 'n1', '--work', tempDir(t, 'agent-work')], { CR_TOKEN: token });
  const exit = await agent.exit;
  t.is(exit.code, 1, agent.describe());
  t.regex(exit.stderr, new RegExp(`refused this agent: token ${id} was revoked at `));
});
