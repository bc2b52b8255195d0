// Nodes' sessions: an agent's registration (and the reconciliation of what it runs with what the
// database says runs there), its heartbeats, the leases that expire when they stop, and the
// draining of a node. A node's jobs move by checkpoint (migrate) or go back to the queue.
import { randomUUID } from 'node:crypto';
import type { ConnectRequest__Output as ConnectRequest, NodeInfo } from '../proto/types.js';
import type { CoreParts } from './core-parts.js';
import type { JobRow } from './jobs.js';
import type { CommandSink } from './leases.js';
import type { NodeRow } from './nodes.js';
import { SchedulerError } from './scheduler-error.js';

/** A node's name as every call takes it (connect, join, revoke): 1–64 letters, digits, ".", "_" and "-", not starting with "." "_" or "-". */
export function checkNodeName(node: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(node)) throw new SchedulerError('INVALID_ARGUMENT', `node name ${JSON.stringify(node.slice(0, 100))} is not valid: letters, digits, ".", "_" and "-"`);
}

export class NodeSessions {
  readonly #core: CoreParts;
  /** The shared image store's S3-compatible endpoint, told to agents with its location. */
  readonly #sharedEndpoint: string;
  /** The cr version each node's agent said it runs when it last connected (for people: the dashboard). */
  readonly versions = new Map<string, string>();

  constructor(core: CoreParts, sharedEndpoint: string) {
    this.#core = core;
    this.#sharedEndpoint = sharedEndpoint;
  }

  async connect(request: ConnectRequest, sink: CommandSink, now = Date.now()): Promise<string> {
    const { images, jobs, leases, nodes } = this.#core;
    const node = request.node ?? '';
    checkNodeName(node);
    const slots = request.slots ?? 0;
    if (!Number.isInteger(slots) || slots < 1 || slots > 1024) throw new SchedulerError('INVALID_ARGUMENT', `slots must be from 1 to 1024, got ${slots}`);
    const session = randomUUID();
    const previous = leases.open(node, session, sink, slots, now);
    previous?.sink?.end();
    const row = await nodes.register(node, slots, now);
    this.versions.set(node, String(request.version ?? '').slice(0, 64));
    const store = images.shared ? { imageStore: images.shared.location, imageStoreEndpoint: this.#sharedEndpoint } : {};
    sink.write({ registered: { session, imageKey: images.key, leaseTimeoutMs: leases.timeoutMs, heartbeatIntervalMs: Math.max(50, Math.floor(leases.timeoutMs / 4)), ...store } });
    // Reconcile what the agent runs with what the database says runs there.
    const reported = new Map((request.running ?? []).map((r) => [r.job ?? 0, r.attempt ?? 0]));
    const lost: { id: number; attempt: number }[] = [];
    for (const job of await jobs.runningOn(node)) {
      if (reported.get(job.id) === job.attempt) {
        reported.delete(job.id);
        if (job.pending === 'migrate' || job.pending === 'checkpoint') leases.control(job, job.pending === 'migrate' ? 'MIGRATE' : 'CHECKPOINT');
      } else {
        lost.push({ id: job.id, attempt: job.attempt });
      }
    }
    for (const [job, attempt] of reported) sink.write({ control: { job, attempt, action: 'STALE' } });
    if (lost.length > 0) await jobs.requeueLost(lost, `node ${node} reconnected without it`, now);
    this.#core.metrics.restarts.inc({ reason: 'node_reconnected' }, lost.length);
    this.#core.log(`node ${node} connected (${slots} slot${slots === 1 ? '' : 's'}${row.draining ? ', draining' : ''}, running ${request.running?.length ?? 0})`);
    await this.#core.schedule();
    return session;
  }

  disconnected(node: string, sink: CommandSink): void {
    this.#core.leases.detach(node, sink);
  }

  /** `draining`: the agent is stopping; the node is drained (once) until it registers again. */
  async heartbeat(node: string, session: string, now = Date.now(), draining = false): Promise<boolean> {
    const { nodes, storage } = this.#core;
    const known = this.#core.leases.renew(node, session, now);
    // The lease is renewed in memory whatever the disk does; last_seen is only for people.
    try {
      if (known) await nodes.touch(node, now);
    } catch (err) {
      if (!storage.noticed(err, 'recording a heartbeat')) throw err;
    }
    if (known && draining && (await nodes.get(node))?.draining === 0) {
      try {
        await nodes.setLeaving(node);
      } catch (err) {
        // Not recorded: the next heartbeat (it says draining again) retries.
        if (!storage.noticed(err, 'recording a draining node')) throw err;
        return known;
      }
      await this.#migrateAll(node, `node ${node} is stopping (its agent was signalled): checkpointing to move the job`);
      this.#core.log(`node ${node} is draining: its agent is stopping`);
    }
    return known;
  }

  /** Nodes whose lease expired are dead; their jobs go back to the queue, no retry spent. */
  async checkLeases(now = Date.now()): Promise<void> {
    const { db, jobs, leases, nodes } = this.#core;
    for (const lease of leases.expire(now)) {
      let moved: JobRow[];
      try {
        moved = await db.write(async () => {
          await nodes.setAlive(lease.node, false);
          const running = (await jobs.runningOn(lease.node)).map((j) => ({ id: j.id, attempt: j.attempt }));
          return jobs.requeueLost(running, `node ${lease.node} missed its lease (${leases.timeoutMs} ms)`, now);
        });
      } catch (err) {
        // Not recorded (a full disk): the lease stays expired in memory and is tried again at the
        // next tick; nothing changed, so its jobs are still the node's if it comes back.
        leases.putBack(lease);
        if (this.#core.storage.noticed(err, `expiring the lease of node ${lease.node}`)) continue;
        throw err;
      }
      lease.sink?.end();
      this.#core.metrics.leaseExpired(moved.length);
      this.#core.log(`node ${lease.node} is dead (no heartbeat for ${leases.timeoutMs} ms); ${moved.length} job${moved.length === 1 ? '' : 's'} back in the queue`);
    }
    if (!this.#core.placing) await this.#core.schedule(now);
  }

  async drain(name: string, undo = false): Promise<NodeInfo> {
    const { jobs, nodes } = this.#core;
    if ((await nodes.get(name)) === undefined) throw new SchedulerError('NOT_FOUND', `no node ${JSON.stringify(name)}: "cr-scheduler nodes" lists them`);
    await nodes.setDraining(name, !undo);
    if (!undo) {
      await this.#migrateAll(name, `node ${name} is draining: checkpointing to move the job`);
      this.#core.log(`node ${name} is draining`);
    } else {
      await this.#core.schedule();
    }
    return this.nodeInfo((await nodes.get(name))!, await jobs.runningCounts());
  }

  /** Each job running on `node` checkpoints at its next safe point, stops, and goes back to the queue. */
  async #migrateAll(node: string, why: string): Promise<void> {
    const { db, jobs } = this.#core;
    for (const job of await jobs.runningOn(node)) {
      await db.write(async () => {
        await jobs.setPending(job.id, 'migrate');
        await jobs.event(job.id, job.attempt, 'event', why);
      });
      this.#core.leases.control(job, 'MIGRATE');
    }
  }

  nodeInfo(node: NodeRow, running: ReadonlyMap<string, number>): NodeInfo {
    const connected = this.#core.leases.get(node.name)?.sink != null;
    return {
      name: node.name,
      state: !node.alive ? 'dead' : node.draining ? 'draining' : connected ? 'alive' : 'reconnecting',
      slots: node.slots,
      running: running.get(node.name) ?? 0,
      lastSeen: node.last_seen,
      registeredAt: node.registered_at,
    };
  }

  async listNodes(): Promise<NodeInfo[]> {
    const running = await this.#core.jobs.runningCounts();
    return (await this.#core.nodes.list()).map((n) => this.nodeInfo(n, running));
  }
}
