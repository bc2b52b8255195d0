// What the cluster commands share: --scheduler and --json, the job id argument, and how a job
// is shown to a person.
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Cluster } from '../client.js';
import type { JobInfo__Output } from '../proto/types.js';
import { formatMs } from '../output.js';

export interface ClusterFlags {
  scheduler?: string;
  json?: boolean;
}

export function clusterCommand(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .addOption(new Option('--scheduler <host:port>', 'the scheduler (default: 127.0.0.1:7070)').env('CR_SCHEDULER'))
    .addOption(new Option('--json', 'machine-readable output'));
}

export function parseJobArg(value: string): number {
  const n = Number(value.replace(/^#/, ''));
  if (!Number.isInteger(n) || n < 1 || n > 0xffffffff) throw new InvalidArgumentError(`"${value}" is not a job id: ids are numbers, as "cr-scheduler list" shows them`);
  return n;
}

/** Runs `fn` with a connection to the scheduler, closed afterwards. */
export async function withCluster<T>(flags: ClusterFlags, fn: (cluster: Cluster) => Promise<T>): Promise<T> {
  // Loaded here, not at start-up: `cr-scheduler run` and `--help` need no gRPC.
  const { Cluster } = await import('../client.js');
  const cluster = new Cluster(flags.scheduler);
  try {
    return await fn(cluster);
  } finally {
    cluster.close();
  }
}

/** A job as scripts get it: JSON fields parsed, times as ISO strings. */
export function jobJson(job: JobInfo__Output): Record<string, unknown> {
  const time = (ms: number): string | null => (ms > 0 ? new Date(ms).toISOString() : null);
  return {
    id: job.id,
    name: job.name,
    state: job.state,
    priority: job.priority,
    retries: job.retries,
    retriesUsed: job.retriesUsed,
    attempt: job.attempt,
    node: job.node || null,
    progress: job.progress,
    message: job.message || null,
    result: job.resultJson ? (JSON.parse(job.resultJson) as unknown) : null,
    error: job.errorJson ? (JSON.parse(job.errorJson) as unknown) : null,
    submittedAt: time(job.submittedAt),
    startedAt: time(job.startedAt),
    finishedAt: time(job.finishedAt),
    pending: job.pending || null,
    images: job.images,
    moves: job.moves,
  };
}

export function errorMessage(job: JobInfo__Output): string {
  if (!job.errorJson) return '';
  try {
    return String((JSON.parse(job.errorJson) as { message?: unknown }).message ?? '');
  } catch {
    return job.errorJson;
  }
}

export function jobState(job: JobInfo__Output): string {
  return job.pending && job.state === 'running' ? `${job.state} (${job.pending === 'migrate' ? 'moving' : 'checkpointing'})` : job.state;
}

export function elapsed(job: JobInfo__Output, now = Date.now()): string {
  if (!job.startedAt) return '';
  return formatMs((job.finishedAt || now) - job.startedAt);
}
