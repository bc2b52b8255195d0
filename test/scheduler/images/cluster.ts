// Agents for the shared-store tests: each with a work directory the test names (so that one
// restarted on the same node finds its local copies) and a token of its own, reused on restart.
import type { ExecutionContext } from 'ava';
import { startCli, type CliProcess } from '../../runner/helpers.js';
import { createToken } from '../helpers.js';

const tokens = new Map<string, Promise<string>>();

export async function startAgentIn(t: ExecutionContext, address: string, name: string, work: string, env: NodeJS.ProcessEnv = {}): Promise<CliProcess> {
  const key = `${address}/${name}`;
  if (!tokens.has(key)) tokens.set(key, createToken(address, 'agent'));
  const cli = startCli(t, ['agent', '--scheduler', address, '--name', name, '--slots', '1', '--work', work], { ...env, CR_TOKEN: await tokens.get(key)! });
  await cli.waitForStderr(/registered with the scheduler/);
  return cli;
}

/** The job's log and events as one text. */
export function logText(lines: { text: string }[]): string {
  return lines.map((l) => l.text).join('\n');
}
