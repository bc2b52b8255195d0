// What the dashboard shows, built from the scheduler's own records through the same core
// methods the gRPC handlers use, and filtered by the same ownership rule (owners.ts): a user
// sees its own jobs, an admin all. Every value is data (JSON); the page puts it in the DOM as
// text, never as markup. Calls into the core are awaited so that an async store changes nothing here.
import path from 'node:path';
import { VERSION } from '../../src/internal.js';
import type { ImageInfo__Output, JobInfo__Output, NodeInfo__Output } from '../proto/types.js';
import type { Caller } from '../server/auth.js';
import type { SchedulerCore } from '../server/scheduler.js';

export interface JobRowView {
  id: number;
  name: string;
  owner: string;
  state: string;
  node: string;
  progress: number;
  message: string;
  attempts: number;
  images: number;
  submittedAt: number;
  pending: string;
}

export interface CheckpointMark {
  sequence: number;
  attempt: number;
  at: number;
  node: string;
  bytes: number;
  /** 0: not reported by its node. */
  rawBytes: number;
  pauseMs: number;
  commitMs: number;
  incremental: boolean;
  /** Still held by the scheduler (retention removes old ones). */
  stored: boolean;
}

export interface AttemptLane {
  number: number;
  node: string;
  startedAt: number;
  endedAt: number | null;
  /** succeeded | failed | lost | migrated | unstarted | cancelled | null (running). */
  outcome: string | null;
  /** Why it ended, in the scheduler's words (its event), when it did not succeed. */
  reason: string;
  /** The image it resumed from; null when it started from the beginning (or has not said yet). */
  restoredFrom: number | null;
  restoredAt: number | null;
}

export interface JobView {
  job: JobRowView & { priority: number; retries: number; retriesUsed: number; moves: number; intervalMs: number; fullEvery: number; args: string; result: string; error: string; startedAt: number; finishedAt: number };
  attempts: AttemptLane[];
  checkpoints: CheckpointMark[];
  images: { sequence: number; attempt: number; bytes: number; rawBytes: number; incremental: boolean; bases: number[]; createdAt: number; node: string; where: string }[];
  /** Whether the caller may act on it (checkpoint, cancel). */
  mayAct: boolean;
}

export interface NodeView {
  name: string;
  state: string;
  slots: number;
  running: number;
  jobs: number[];
  lastSeen: number;
  version: string;
  draining: boolean;
}

export interface ClusterView {
  version: string;
  storage: string;
  degraded: boolean;
  /** Until several schedulers can share a database: always this one. */
  leadership: string;
  nodes: number;
  jobs: Record<string, number>;
}

/** A row of the jobs table the caller may see, or undefined. */
async function visible(core: SchedulerCore, caller: Caller, id: number): Promise<boolean> {
  return await core.owners.owns(caller, id);
}

/** A job as a row of the jobs table, and the head of its own page. */
function rowView(info: JobInfo__Output): JobRowView {
  return {
    id: info.id,
    name: info.name,
    owner: info.owner,
    state: info.state,
    node: info.node,
    progress: info.progress,
    message: info.message,
    attempts: info.attempt,
    images: info.images,
    submittedAt: info.submittedAt,
    pending: info.pending,
  };
}

/** The jobs page holds the caller's newest jobs, as `cr-scheduler list` does; `more`: older ones were left out. */
export const DASHBOARD_JOBS = 1000;

export async function jobsView(core: SchedulerCore, caller: Caller): Promise<{ jobs: JobRowView[]; more: boolean }> {
  const scope = core.owners.scope(caller);
  if (scope === 'none') return { jobs: [], more: false };
  const listed = await core.jobs.listed([], scope.token, DASHBOARD_JOBS);
  const jobs: JobRowView[] = [];
  for (const job of listed.jobs) jobs.push(rowView((await core.jobInfo(job.row, job)) as JobInfo__Output));
  return { jobs, more: listed.more };
}

const STORED = /^image (\d+) stored \((\d+) bytes/;
const RESUMED = /^\[cr\] attempt (\d+) on node \S+: resumed from image (\d+)/;

/** A job the caller may see, with its timeline; undefined when there is none it may see. */
export async function jobView(core: SchedulerCore, caller: Caller, id: number): Promise<JobView | undefined> {
  const row = await core.jobs.get(id);
  if (row === undefined || !(await visible(core, caller, id))) return undefined;
  const info = (await core.jobInfo(row)) as JobInfo__Output;
  const images = (await core.listImages(id)) as ImageInfo__Output[];
  const stats = new Map((await core.imageStats.of(id)).map((s) => [s.sequence, s]));
  const events = await allEvents(core, id);
  // Checkpoints from the events (kept for good), joined with the images still held and each image's costs.
  const marks = new Map<number, CheckpointMark>();
  const rows = new Map(images.map((i) => [i.sequence, i]));
  const resumed = new Map<number, { from: number; at: number }>();
  for (const e of events) {
    const stored = e.kind === 'event' ? STORED.exec(e.text) : null;
    if (stored) {
      const sequence = Number(stored[1]);
      const image = rows.get(sequence);
      const stat = stats.get(sequence);
      marks.set(sequence, {
        sequence,
        attempt: e.attempt,
        at: e.at,
        node: image?.node ?? /from node (\S+?)\)/.exec(e.text)?.[1] ?? '',
        bytes: Number(stored[2]),
        rawBytes: stat?.rawBytes ?? 0,
        pauseMs: stat?.pauseMs ?? 0,
        commitMs: stat?.commitMs ?? 0,
        incremental: image ? image.bases.length > 0 : (stat?.incremental ?? false),
        stored: image !== undefined,
      });
    }
    const from = e.kind === 'log' ? RESUMED.exec(e.text) : null;
    if (from && Number(from[1]) === e.attempt) resumed.set(e.attempt, { from: Number(from[2]), at: e.at });
  }
  const attempts = (await core.jobs.attempts(id)).map((a): AttemptLane => {
    // The scheduler's own words on how it ended: the last event of that attempt that says so.
    const why = [...events].reverse().find((e) => e.kind === 'event' && e.attempt === a.number && /\b(lost|failed|could not start|checkpointed and stopped|cancelled)\b/.test(e.text));
    const restore = resumed.get(a.number);
    return {
      number: a.number,
      node: a.node,
      startedAt: a.started_at,
      endedAt: a.ended_at,
      outcome: a.outcome,
      reason: a.outcome === 'succeeded' ? '' : (why?.text ?? ''),
      restoredFrom: restore?.from ?? null,
      restoredAt: restore?.at ?? null,
    };
  });
  const mayAct = await core.owners.owns(caller, id);
  return {
    job: {
      ...rowView(info),
      priority: info.priority,
      retries: info.retries,
      retriesUsed: info.retriesUsed,
      moves: info.moves,
      intervalMs: row.interval_ms,
      fullEvery: row.full_every,
      args: row.args_json,
      result: info.resultJson,
      error: info.errorJson,
      startedAt: info.startedAt,
      finishedAt: info.finishedAt,
    },
    attempts,
    checkpoints: [...marks.values()].sort((a, b) => a.sequence - b.sequence),
    images: images.map((i) => ({
      sequence: i.sequence,
      attempt: i.attempt,
      bytes: i.bytes,
      rawBytes: stats.get(i.sequence)?.rawBytes ?? 0,
      incremental: i.bases.length > 0,
      bases: i.bases,
      createdAt: i.createdAt,
      node: i.node,
      where: `scheduler: ${path.relative(path.resolve(core.images.store.dir, '..'), core.images.file(id, i.sequence))}`,
    })),
    mayAct,
  };
}

/** Every event of a job, in order (the core hands them out in pages). */
async function allEvents(core: SchedulerCore, id: number): Promise<{ id: number; attempt: number; at: number; kind: string; text: string }[]> {
  const out: { id: number; attempt: number; at: number; kind: string; text: string }[] = [];
  for (let after = 0; ; ) {
    const page = await core.jobs.events(id, after);
    out.push(...page);
    if (page.length === 0) return out;
    after = page[page.length - 1]!.id;
  }
}

/** Log lines and events after `after`, for a job the caller may see; undefined otherwise. */
export async function logView(core: SchedulerCore, caller: Caller, id: number, after: number): Promise<{ lines: { id: number; at: number; attempt: number; kind: string; text: string }[]; state: string } | undefined> {
  const row = await core.jobs.get(id);
  if (row === undefined || !(await visible(core, caller, id))) return undefined;
  return { lines: await core.jobs.events(id, after), state: row.state };
}

export async function nodesView(core: SchedulerCore): Promise<NodeView[]> {
  const nodes = (await core.listNodes()) as NodeInfo__Output[];
  const running = (await core.jobs.list(['running'])).map((j) => ({ id: j.id, node: j.node }));
  const rows = new Map((await core.nodes.list()).map((n) => [n.name, n]));
  return nodes.map((n) => ({
    name: n.name,
    state: n.state,
    slots: n.slots,
    running: n.running,
    jobs: running.filter((j) => j.node === n.name).map((j) => j.id),
    lastSeen: n.lastSeen,
    version: core.versions.get(n.name) ?? '',
    draining: (rows.get(n.name)?.draining ?? 0) !== 0,
  }));
}

export async function clusterView(core: SchedulerCore, caller: Caller): Promise<ClusterView> {
  const scope = core.owners.scope(caller);
  const jobs = scope === 'none' ? {} : Object.fromEntries(await core.jobs.countByState(scope.token));
  return {
    version: VERSION,
    storage: core.storage.status,
    degraded: core.storage.degraded !== null,
    leadership: leadershipText(core),
    nodes: (await core.nodes.list()).length,
    jobs,
  };
}

/** Which scheduler leads, as the page says it: this one (with its epoch), or a standby naming the leader. */
function leadershipText(core: SchedulerCore): string {
  const l = core.leadership;
  if (l.leading) return `this scheduler leads (epoch ${l.epoch}), at ${l.address}`;
  return l.leader ? `this scheduler stands by; the leader is at ${l.leader}` : 'this scheduler stands by; no scheduler leads yet';
}
