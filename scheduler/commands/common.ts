// What the cluster commands share: --scheduler and --json, the job id argument, and how a job
// is shown to a person.
import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Cluster } from '../client.js';
import { ClusterError } from '../cluster-errors.js';
import type { ClientCredentials } from '../credentials.js';
import type { JobInfo__Output } from '../proto/types.js';
import { parseSchedulerAddresses } from '../addresses.js';
import { DEFAULT_ADDRESS, DEFAULT_DATA_DIR } from '../names.js';
import { printable } from '../escape.js';
import { formatMs } from '../output.js';

export interface ClusterFlags extends CredentialFlags {
  scheduler?: string;
  json?: boolean;
}

export interface CredentialFlags {
  token?: string;
  tokenFile?: string;
  /** The data directory of a scheduler on this machine (its token files). */
  data?: string;
  ca?: string;
}

/** A loopback scheduler writes an admin token here (mode 0600); the CLI on that machine uses it by default. */
export const LOCAL_TOKEN_FILE = 'admin.token';
/** ...and an agent token here, which agents started on that machine use by default. */
export const LOCAL_AGENT_TOKEN_FILE = 'agent.token';

/** `file`: the token file of a local scheduler that this command uses by default. */
export function credentialOptions(command: Command, file = LOCAL_TOKEN_FILE): Command {
  return command
    .addOption(new Option('--token-file <file>', `file holding the token (default: <data>/${file}, written by a "serve" on this machine)`).env('CR_TOKEN_FILE'))
    .addOption(new Option('--token <token>', 'the token itself; visible to other users in "ps": prefer CR_TOKEN or --token-file').env('CR_TOKEN'))
    .addOption(new Option('--data <dir>', `the data directory of a scheduler on this machine, where its token files are (default: ${DEFAULT_DATA_DIR})`).env('CR_DATA'))
    .addOption(new Option('--ca <file>', "the cluster CA's certificate (<data>/tls/ca.pem of the scheduler): talk TLS").env('CR_CA'));
}

export function clusterCommand(name: string, description: string): Command {
  return credentialOptions(
    new Command(name)
      .description(description)
      .addOption(schedulerOption(`the scheduler; with standby schedulers, several: a:7070,b:7070 (default: ${DEFAULT_ADDRESS})`))
      .addOption(new Option('--json', 'machine-readable output')),
  );
}

/** --scheduler (CR_SCHEDULER): host:port, or several comma-separated; a malformed list is refused as the flag is read. */
export function schedulerOption(description: string): Option {
  return new Option('--scheduler <host:port,...>', description).env('CR_SCHEDULER').argParser((value: string) => {
    try {
      parseSchedulerAddresses(value);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message.replace(/^--scheduler:? ?/, ''));
    }
    return value;
  });
}

function readSecret(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ClusterError(`cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Credentials, and when no token was found, where it was looked for (for the message if the scheduler asks for one). */
export interface FoundCredentials {
  credentials: ClientCredentials;
  notFound: string | null;
}

/**
 * Flags, then CR_TOKEN / CR_TOKEN_FILE / CR_CA, then the token file (`file`) of a scheduler on
 * this machine: in --data, else $CR_DATA, else ./.cr-scheduler.
 */
export function findCredentials(flags: CredentialFlags, file = LOCAL_TOKEN_FILE): FoundCredentials {
  let token = flags.token;
  if (!token && flags.tokenFile) token = readSecret(flags.tokenFile, 'token file');
  let notFound: string | null = null;
  if (!token && !flags.tokenFile) {
    const local = path.resolve(flags.data || DEFAULT_DATA_DIR, file);
    if (fs.existsSync(local)) token = readSecret(local, 'token file');
    else
      notFound =
        `Looked for a token in --token, CR_TOKEN, --token-file, CR_TOKEN_FILE and ${local} (none there); ` +
        `on the scheduler's machine, give its data directory with --data or CR_DATA`;
  }
  return { credentials: { token, ca: flags.ca ? readSecret(flags.ca, 'CA certificate') : undefined }, notFound };
}

export function credentialsFrom(flags: CredentialFlags, file = LOCAL_TOKEN_FILE): ClientCredentials {
  return findCredentials(flags, file).credentials;
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
  const found = findCredentials(flags);
  const cluster = new Cluster(flags.scheduler, found.credentials, found.notFound);
  try {
    return await fn(cluster);
  } finally {
    cluster.close();
  }
}

/** A job as scripts get it: JSON fields parsed, times as ISO strings. */
export function jobJson(job: JobInfo__Output): Record<string, unknown> {
  const time = (ms: number): string | null => (ms > 0 ? isoTime(ms) : null);
  return {
    id: job.id,
    name: job.name,
    state: job.state,
    priority: job.priority,
    retries: job.retries,
    retriesUsed: job.retriesUsed,
    attempt: job.attempt,
    node: job.node || null,
    owner: job.owner || null,
    progress: job.progress,
    message: job.message || null,
    result: job.resultJson ? storedJson(job.resultJson) : null,
    error: job.errorJson ? storedJson(job.errorJson) : null,
    submittedAt: time(job.submittedAt),
    startedAt: time(job.startedAt),
    finishedAt: time(job.finishedAt),
    pending: job.pending || null,
    images: job.images,
    moves: job.moves,
  };
}

/** The error's message, escaped for a terminal. */
export function errorMessage(job: JobInfo__Output): string {
  if (!job.errorJson) return '';
  const error = storedJson(job.errorJson) as { message?: unknown } | null;
  return printable(typeof error === 'object' && error !== null ? String(error.message ?? '') : String(error));
}

/** A JSON value the scheduler stored; text that is not JSON is shown as the string it is, never thrown on. */
export function storedJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** A time from the scheduler as ISO 8601; a value no Date can hold is shown as the number it is. */
export function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isFinite(date.getTime()) ? date.toISOString() : String(ms);
}

export function jobState(job: JobInfo__Output): string {
  return job.pending && job.state === 'running' ? `${job.state} (${job.pending === 'migrate' ? 'moving' : 'checkpointing'})` : job.state;
}

export function elapsed(job: JobInfo__Output, now = Date.now()): string {
  if (!job.startedAt) return '';
  return formatMs((job.finishedAt || now) - job.startedAt);
}
