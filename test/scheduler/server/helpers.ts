// What the scheduler-core tests share: a core on a real database and image store in a temp
// dir, a node's command stream as a list, and real image bytes to upload.
import fs from 'node:fs';
import type { ExecutionContext } from 'ava';
import type { Command } from '../../../scheduler/proto/types.js';
import type { CommandSink } from '../../../scheduler/server/leases.js';
import { SchedulerCore } from '../../../scheduler/server/scheduler.js';
import { tempDir } from '../../runner/helpers.js';
import { testDbUrl } from './postgres.js';
import { codecs, header, region, smoothBytes, writeImage } from '../../image/helpers.js';

export const LEASE_MS = 1000;

export class Sink implements CommandSink {
  commands: Command[] = [];
  ended = false;
  write(command: Command): void {
    this.commands.push(command);
  }
  end(): void {
    this.ended = true;
  }
  of(kind: 'registered' | 'assign' | 'control'): Command[] {
    return this.commands.filter((c) => c[kind] !== undefined);
  }
}

export async function core(t: ExecutionContext, dataDir = tempDir(t, 'core'), uploadIdleTimeoutMs?: number): Promise<SchedulerCore> {
  const c = await SchedulerCore.open({ dataDir, dbUrl: await testDbUrl(t), leaseTimeoutMs: LEASE_MS, ...(uploadIdleTimeoutMs === undefined ? {} : { uploadIdleTimeoutMs }) });
  t.teardown(() => c.close().catch(() => undefined));
  return c;
}

export async function submit(c: SchedulerCore): Promise<number> {
  return (await c.submit({ name: 'j', code: Buffer.from('export default async () => 1'), argsJson: '{}', retries: 1, priority: 0, intervalMs: 1000, fullEvery: 8 })).id!;
}

/** The bytes of a real image of `job` number `sequence`, tagged with `key`. */
export async function imageBytes(t: ExecutionContext, key: Buffer, job: string, sequence: number): Promise<Buffer> {
  const file = `${tempDir(t, 'upload')}/image.crimg`;
  const { main } = await codecs();
  await writeImage(file, { codec: main, key }, [region('grid', 'Float64Array', smoothBytes(300_000 - (300_000 % 8), sequence))], header(job, sequence));
  return fs.readFileSync(file);
}

