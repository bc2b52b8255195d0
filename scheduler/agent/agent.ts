// The node agent: registers this node with the scheduler, renews its lease, and runs what it is
// assigned. The connection is a server stream of commands; when it breaks (the scheduler was
// restarted, the network failed, the leader died and a standby took over) the agent keeps its
// jobs running and reconnects on its own, to the leader a standby names or the next address it
// was given (leader-follow.ts decides which), telling that scheduler which attempts it runs, so
// that nothing is lost or run twice. Its jobs' reports, images and results go to whichever
// scheduler it is connected to. Stopping, it drains (drain()): its jobs checkpoint and go back
// to the scheduler to resume elsewhere.
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Backoff, VERSION } from '../../src/internal.js';
import { AGENT_RECONNECT_MAX_MS, DEFAULT_LEASE_TIMEOUT_MS } from '../names.js';
import type { ClientCredentials } from '../credentials.js';
import { parseSchedulerAddresses } from '../addresses.js';
import { classify, SchedulerSet, type Refusal } from '../leader-follow.js';
import { unary } from '../proto/load.js';
import type { Command__Output } from '../proto/types.js';
import { LocalLevel } from './local-level.js';
import { openSharedStore } from '../images/open.js';
import type { SharedStore } from '../images/store.js';
import { Attempt } from './attempt.js';
import { linkPackage } from './code.js';
import type { JobIsolation } from './job-host.js';
import type { AgentMetrics } from './metrics.js';

export interface AgentOptions {
  /** host:port of the scheduler; with standby schedulers, several, comma-separated. */
  scheduler: string;
  /** This node's name (unique in the cluster). */
  name: string;
  /** Jobs run at once. */
  slots: number;
  /** Where code, images and the image key are kept. */
  workDir: string;
  /** A token (loopback without TLS) or a client certificate (mutual TLS, see join.ts). */
  credentials?: ClientCredentials;
  /** How jobs' processes are kept from the agent's secrets (job-host.ts); default: scrubbed environment, the agent's uid. */
  isolation?: JobIsolation;
  log?: (line: string) => void;
  /** Where this node's metrics go (metrics.ts); none by default. */
  metrics?: AgentMetrics;
}

const RECONNECT_MS = 200;
/** A connection that has not registered this node after twice the lease (or this, if longer) is given up. */
const REGISTER_MIN_MS = 2000;

export class Agent {
  readonly #options: AgentOptions;
  /** The schedulers, and the one this agent is connected to (or trying); images have connections of their own (transfer.ts). */
  readonly #set: SchedulerSet;
  readonly #log: (line: string) => void;
  readonly #attempts = new Map<number, Attempt>();
  readonly #keyFile: string;
  /** This node's copies of its jobs' latest images (<work>/images). */
  readonly #local: LocalLevel;
  /** The shared image store the scheduler named at registration, opened once per location. */
  #shared: { location: string; endpoint: string; store: Promise<SharedStore | null> } | null = null;
  #call: grpc.ClientReadableStream<Command__Output> | null = null;
  #session: string | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  /** Why the agent itself ended the session (a heartbeat's answer), which decides where it goes next. */
  #leaving: { refusal: Refusal; said: string } | null = null;
  /** Per scheduler address: aborted when the agent leaves it, ending calls still waiting on it. */
  readonly #departures = new Map<string, AbortController>();
  #closed = false;
  /** Longest pause between reconnection tries: a third of the lease, so a restarted scheduler sees us in time. */
  #reconnectMaxMs = AGENT_RECONNECT_MAX_MS;
  /** The lease the scheduler last gave; the default until one registered this node. */
  #leaseMs = DEFAULT_LEASE_TIMEOUT_MS;
  #loop: Promise<void> | null = null;
  #closing: Promise<void> | null = null;
  /** Stopping: heartbeats say so, and every job, also one assigned meanwhile, checkpoints and stops. */
  #draining = false;
  #wasRegistered = false;
  /** Resolves the first time the agent is registered. */
  readonly registered: Promise<void>;
  #onRegistered!: () => void;
  /** Resolves when the scheduler refused this agent's credential or node name: retrying cannot help. */
  readonly refused: Promise<Error>;
  #onRefused!: (err: Error) => void;

  constructor(given: AgentOptions) {
    // Absolute once, here: a job's process runs in its own directory, where a relative path means nothing.
    const options = { ...given, workDir: path.resolve(given.workDir) };
    this.#options = options;
    this.#set = new SchedulerSet(parseSchedulerAddresses(options.scheduler), options.credentials);
    this.#log = options.log ?? (() => undefined);
    this.#keyFile = path.join(options.workDir, 'image.key');
    this.#local = new LocalLevel(path.join(options.workDir, 'images'));
    this.registered = new Promise((resolve) => (this.#onRegistered = resolve));
    this.refused = new Promise((resolve) => (this.#onRefused = resolve));
    // Attempts of an earlier agent process in this directory died with it: their files are litter.
    fs.rmSync(path.join(options.workDir, 'jobs'), { recursive: true, force: true });
    fs.mkdirSync(path.join(options.workDir, 'code'), { recursive: true });
    linkPackage(path.join(options.workDir, 'code'));
  }

  start(): void {
    this.#loop ??= this.#connectLoop();
  }

  /**
   * Drains this node before it stops (SIGTERM, a batch system taking the machine back): the
   * scheduler is told first, so that it places nothing more here and a job that stops is queued
   * for another node, then each job checkpoints at its next safe point, uploads that image and
   * stops, and the scheduler resumes it elsewhere from there. After `timeoutMs` the jobs still
   * running are ended without a checkpoint (they resume from their previous image). Closes the
   * agent; resolves with how many jobs were not handed back in time.
   */
  async drain(timeoutMs: number): Promise<{ left: number }> {
    this.#draining = true;
    const deadline = Date.now() + timeoutMs;
    // Told at once and then with every heartbeat, so that a scheduler that restarts meanwhile learns it too.
    if (this.#session !== null) {
      const session = this.#session;
      await unary(this.#set.client(), 'Heartbeat', { node: this.#options.name, session, draining: true }, Math.max(1000, Math.min(10_000, timeoutMs / 4))).then(
        (reply) => {
          if (!reply.known && this.#session === session) this.#call?.cancel();
        },
        () => undefined, // unreachable: the jobs checkpoint anyway, and report when it is back
      );
    }
    for (const attempt of this.#attempts.values()) attempt.migrate();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()))));
    // Jobs assigned in the meantime are in #attempts too: wait until none is left.
    while (this.#attempts.size > 0) {
      const all = Promise.all([...this.#attempts.values()].map((a) => a.done)).then(() => 'done' as const);
      if ((await Promise.race([all, timedOut])) === 'timeout') break;
    }
    clearTimeout(timer);
    const left = this.#attempts.size;
    await this.close();
    return { left };
  }

  /** Ends every job's process (no checkpoint) and the connection. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#stopHeartbeat();
    this.#call?.cancel();
    for (const attempt of this.#attempts.values()) attempt.abandon('the agent is shutting down');
    await Promise.all([...this.#attempts.values()].map((a) => a.done));
    await this.#loop;
    this.#set.close();
  }

  get running(): number {
    return this.#attempts.size;
  }

  async #connectLoop(): Promise<void> {
    const delays = new Backoff(RECONNECT_MS, this.#reconnectMaxMs);
    let lastError = '';
    let hopped = false;
    while (!this.#closed) {
      const address = this.#set.current;
      this.#leaving = null;
      const ended = new Promise<{ why: string; refusal: Refusal | null }>((resolve) => {
        const running = [...this.#attempts.values()].map((a) => ({ job: a.job, attempt: a.attempt }));
        const call = this.#set.client(address).Connect({ node: this.#options.name, slots: this.#options.slots, running, version: VERSION });
        this.#call = call;
        // A scheduler that takes the connection but never registers us (paused by SIGSTOP: the
        // kernel still accepts) is left for the next, rather than waited on until keepalive notices.
        const registerMs = Math.max(REGISTER_MIN_MS, 2 * this.#leaseMs);
        const unregistered = setTimeout(() => {
          const said = `it did not register this node within ${registerMs / 1000} s`;
          this.#leaving = { refusal: { kind: 'lost', said }, said };
          call.cancel();
        }, registerMs);
        call.on('data', (command: Command__Output) => {
          clearTimeout(unregistered);
          delays.reset();
          if (command.command === 'registered') this.#set.answered(address, true);
          this.#command(command, address);
        });
        call.on('error', (err: grpc.ServiceError) => {
          clearTimeout(unregistered);
          if (err.code === grpc.status.UNAUTHENTICATED || err.code === grpc.status.PERMISSION_DENIED) {
            this.#closed = true;
            this.#onRefused(new Error(`the scheduler at ${address} refused this agent: ${err.details}`));
          }
          if (this.#leaving) return resolve({ why: this.#leaving.said, refusal: this.#leaving.refusal });
          const refusal = classify(err);
          const why = refusal.kind === 'answer' ? err.details || err.message : refusal.kind === 'unreachable' ? `${refusal.said}: is "cr-scheduler serve" running there?` : refusal.said;
          resolve({ why, refusal });
        });
        call.on('end', () => {
          clearTimeout(unregistered);
          resolve({ why: 'the scheduler ended the session', refusal: null });
        });
      });
      const { why, refusal } = await ended;
      this.#call = null;
      this.#session = null;
      this.#stopHeartbeat();
      if (this.#closed) break;
      // A scheduler's own answer or end of the session: the same scheduler again; else where leader-follow.ts says.
      const next = refusal === null || refusal.kind === 'answer' ? address : this.#set.next(address, refusal);
      if (next !== address) {
        this.#departures.get(address)?.abort();
        this.#departures.delete(address);
      }
      const message = `disconnected from the scheduler at ${address}: ${why}; reconnecting${next !== address ? ` to ${next}` : ''}`;
      if (message !== lastError) this.#log(message);
      lastError = message;
      // Straight on to a leader a standby named (once: two standbys naming each other would spin).
      if (refusal?.kind === 'standby' && next === refusal.leader && !hopped) {
        hopped = true;
        continue;
      }
      hopped = false;
      delays.max = this.#reconnectMaxMs;
      await new Promise((resolve) => setTimeout(resolve, delays.next()));
    }
  }

  /** A signal aborted when this agent leaves `address` for another scheduler. */
  #departure(address: string): AbortSignal {
    let controller = this.#departures.get(address);
    if (controller === undefined) this.#departures.set(address, (controller = new AbortController()));
    return controller.signal;
  }

  #command(command: Command__Output, address: string): void {
    switch (command.command) {
      case 'registered': {
        const r = command.registered!;
        // The cluster's key, for this node's runner; mode 0600, replaced atomically.
        const temp = `${this.#keyFile}.${process.pid}.tmp`;
        fs.writeFileSync(temp, r.imageKey as Buffer, { mode: 0o600 });
        fs.renameSync(temp, this.#keyFile);
        this.#session = r.session;
        this.#useStore(r.imageStore, r.imageStoreEndpoint);
        this.#leaseMs = r.leaseTimeoutMs;
        this.#reconnectMaxMs = Math.max(RECONNECT_MS, Math.min(AGENT_RECONNECT_MAX_MS, Math.floor(r.leaseTimeoutMs / 3)));
        this.#startHeartbeat(r.heartbeatIntervalMs, r.leaseTimeoutMs);
        this.#log(`registered with the scheduler at ${address} as node ${this.#options.name} (${this.#options.slots} slots)`);
        if (this.#wasRegistered) this.#options.metrics?.reconnects.inc();
        this.#wasRegistered = true;
        this.#onRegistered();
        break;
      }
      case 'assign': {
        const a = command.assign!;
        const current = this.#attempts.get(a.job);
        if (current?.attempt === a.attempt) break;
        current?.abandon(`attempt ${a.attempt} replaces it`);
        const isolation = this.#options.isolation ?? { runAs: null, hidden: [this.#options.workDir] };
        const set = this.#set;
        const attempt = new Attempt({ shared: this.#shared?.store ?? Promise.resolve(null), sharedNamed: this.#shared !== null, local: this.#local,  client: () => set.client(), lanes: () => set.lanes(), departure: () => this.#departure(set.current), node: this.#options.name, workDir: this.#options.workDir, keyFile: this.#keyFile, isolation, log: this.#log, metrics: this.#options.metrics }, a);
        this.#attempts.set(a.job, attempt);
        this.#log(`job ${a.job} "${a.name}" attempt ${a.attempt}: starting${a.images.length > 0 ? ` from image ${a.images[a.images.length - 1]!.sequence}` : ''}`);
        void attempt.done.then(() => {
          if (this.#attempts.get(a.job) === attempt) this.#attempts.delete(a.job);
        });
        // Placed here before the scheduler heard that this node is stopping: hand it straight back.
        if (this.#draining) attempt.migrate();
        break;
      }
      case 'control': {
        const c = command.control!;
        const attempt = this.#attempts.get(c.job);
        if (attempt === undefined || attempt.attempt !== c.attempt) break;
        if (c.action === 'CHECKPOINT') attempt.checkpoint();
        else if (c.action === 'MIGRATE') attempt.migrate();
        else if (c.action === 'CANCEL') attempt.cancel();
        else if (c.action === 'STALE') attempt.abandon('the scheduler gave it to another node');
        break;
      }
      default:
        break;
    }
  }

  /** Opens the shared image store the scheduler named (none: images go over gRPC). */
  #useStore(location: string, endpoint: string): void {
    if ((this.#shared?.location ?? '') === location && (this.#shared?.endpoint ?? '') === endpoint) return;
    void this.#shared?.store.then((s) => s?.close());
    this.#shared = null;
    if (!location) return;
    const store = openSharedStore(location, endpoint ? { endpoint } : {}).then(
      (s) => {
        this.#log(`images go to the shared image store ${location}${endpoint ? ` (endpoint ${endpoint})` : ''}`);
        return s;
      },
      (err: Error) => {
        // Without it, this node's jobs cannot store or read images: their attempts end unstarted, saying why.
        this.#log(`the scheduler's image store ${location} cannot be used on this node: ${err.message}`);
        return null;
      },
    );
    this.#shared = { location, endpoint, store };
  }

  #startHeartbeat(intervalMs: number, leaseTimeoutMs: number): void {
    this.#stopHeartbeat();
    const session = this.#session!;
    const client = this.#set.client();
    let heard = Date.now();
    // Ends the session, to reconnect where `refusal` leads (it becomes the stream's reason).
    const leave = (refusal: Refusal, said: string): void => {
      if (this.#session !== session) return;
      this.#leaving = { refusal, said };
      this.#call?.cancel();
    };
    this.#heartbeat = setInterval(() => {
      unary(client, 'Heartbeat', { node: this.#options.name, session, draining: this.#draining }, Math.max(1000, intervalMs * 2)).then(
        (reply) => {
          heard = Date.now();
          // The scheduler ended this session (our lease expired): register again.
          if (!reply.known) leave({ kind: 'answer' }, 'the scheduler ended this session (its lease had expired)');
        },
        (err: unknown) => {
          const refusal = classify(err);
          // A leader that stepped down (it was paused past its lease) says so: follow the one it names.
          if (refusal.kind === 'standby') leave(refusal, `it stepped down: ${refusal.said}`);
          // One that no longer answers at all, though the stream stays open (SIGSTOP, a one-way
          // network cut), has lost this node's lease by now: go where a leader may be.
          else if (Date.now() - heard > leaseTimeoutMs) {
            const said = `no heartbeat answered for ${Math.round((Date.now() - heard) / 1000)} s`;
            leave({ kind: 'lost', said }, said);
          }
        },
      );
    }, intervalMs);
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
  }
}
