// One member of a team (`cr.team(n, file, args)`), in its own worker thread: the `cr` its module's
// default export receives (its own states and regions, the team's shared buffers, the collective
// safe point), and the thread's entry point.
import { isMainThread, parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { checkName, checkRegion, regionTypeName, StateRegistry } from '../capture/registration.js';
import { fromErrorRecord, RegionMismatchError, StateCaptureError, toErrorRecord, type ErrorRecord } from '../errors.js';
import type { RegionConstructor, RegionTypeName } from '../image/format.js';
import { CONTROL_NONE } from '../policy.js';
import { importJobModule } from '../loader/job-module.js';
import { RNG_STATE_NAME, RngRegistry, type Rng, type Seed } from '../determinism/rng.js';
import { nameThread } from '../thread-name.js';
import { arrive, SYNC_CAPTURED, SYNC_FINISHED, SYNC_GENERATION, SYNC_TIME_DUE, SYNC_WORDS, waitUntil } from './team-sync.js';

/** What a member thread starts with. */
export interface MemberData {
  rank: number;
  /** What the image calls this member's states and regions before their own names ("cr:team:<rank>:"). */
  sectionPrefix: string;
  size: number;
  moduleUrl: string;
  args: unknown;
  attempt: number;
  sync: SharedArrayBuffer;
  control: SharedArrayBuffer | null;
  everyCalls: number | null;
  port: MessagePort;
  /** The member's part of the image the team was restored from, or null on a fresh start. */
  restored: { states: [string, unknown][]; regions: [string, RegionTypeName, SharedArrayBuffer][] } | null;
}

/** Messages a member posts to the leader. */
export type MemberMessage =
  | { type: 'capture'; rank: number; generation: number; states: [string, unknown][]; regions: [string, RegionTypeName, SharedArrayBuffer][] }
  | { type: 'shared'; rank: number; request: number; name: string; typeName: RegionTypeName; length: number }
  | { type: 'log'; line: string }
  | { type: 'progress'; fraction: number; message: string | null }
  | { type: 'done'; rank: number; result: unknown }
  | { type: 'failed'; rank: number; error: ErrorRecord };

/** The leader's answer to a shared() request. */
export type SharedAnswer = { ok: true; buffer: SharedArrayBuffer } | { ok: false; error: ErrorRecord };

/** The `cr` of a team member. */
export interface TeamMemberCr {
  /** This member's rank, from 0 to size − 1. */
  readonly rank: number;
  /** How many members the team has. */
  readonly size: number;
  /** True when the team was restored from an image. */
  readonly restored: boolean;
  readonly attempt: number;
  /** This member's own structured value, restored after a restart (as `cr.state`). */
  state<T>(name: string, initial: T): T;
  /** This member's own typed array, restored after a restart (as `cr.region`). */
  region<C extends RegionConstructor>(name: string, Ctor: C, length: number): InstanceType<C>;
  /** A typed array over the team's SharedArrayBuffer `name`: the same memory in every member; captured once per image. */
  shared<C extends RegionConstructor>(name: string, Ctor: C, length: number): InstanceType<C>;
  /**
   * The team's collective safe point, and a barrier: every member must call it the same number of
   * times; it returns once all have arrived (and, when an image is due, once it is captured).
   * Resolves to true when this safe point took an image.
   */
  checkpoint(): Promise<boolean>;
  /** A double in [0, 1) from this member's own default stream (as `cr.random()`), continued after a restart. */
  random(): number;
  /** A seeded stream of this member's (as `cr.rng(seed, name)`): seed it with the rank for independent streams. */
  rng(seed?: Seed, name?: string): Rng;
  log(...args: unknown[]): void;
  progress(fraction: number, message?: string): void;
}

class TeamMember implements TeamMemberCr {
  readonly rank: number;
  readonly size: number;
  readonly restored: boolean;
  readonly attempt: number;
  readonly #data: MemberData;
  readonly #sync: Int32Array;
  readonly #control: Int32Array | null;
  readonly #registry: StateRegistry;
  readonly #states: Map<string, unknown>;
  readonly #regions = new Map<string, { type: RegionTypeName; bytes: Uint8Array }>();
  readonly #shared = new Map<string, unknown>();
  readonly #restoredStates: Map<string, unknown>;
  readonly #restoredRegions: Map<string, [RegionTypeName, SharedArrayBuffer]>;
  #calls = 0;
  #requests = 0;
  #rng: RngRegistry | null = null;

  constructor(data: MemberData) {
    this.#data = data;
    this.rank = data.rank;
    this.size = data.size;
    this.restored = data.restored !== null;
    this.attempt = data.attempt;
    this.#sync = new Int32Array(data.sync);
    this.#control = data.control ? new Int32Array(data.control) : null;
    this.#restoredStates = new Map(data.restored?.states ?? []);
    this.#registry = new StateRegistry((name) => this.#restoredStates.get(name), data.sectionPrefix);
    this.#states = this.#registry.states;
    this.#restoredRegions = new Map((data.restored?.regions ?? []).map(([name, type, buffer]) => [name, [type, buffer]]));
    if (this.#restoredStates.has(RNG_STATE_NAME)) this.#rngRegistry();
  }

  random(): number {
    return this.#rngRegistry().default.random();
  }

  rng(seed?: Seed, name?: string): Rng {
    return this.#rngRegistry().get(seed, name);
  }

  #rngRegistry(): RngRegistry {
    if (this.#rng === null) {
      this.#rng = new RngRegistry(this.#restoredStates.get(RNG_STATE_NAME), (message) => this.log(`warning: ${message}`));
      this.#states.set(RNG_STATE_NAME, this.#rng.value);
    }
    return this.#rng;
  }

  state<T>(name: string, initial: T): T {
    return this.#registry.register(name, initial);
  }

  region<C extends RegionConstructor>(name: string, Ctor: C, length: number): InstanceType<C> {
    const type = checkRegion(name, Ctor, length, (n) => this.#regions.has(n), this.#data.sectionPrefix);
    // A member's regions are plain ArrayBuffers, not the addon's mmap'd memory: the leader may
    // terminate a member at any moment (a peer died), and a native call cut short by terminate()
    // aborts the whole process. Their bytes are copied at every capture anyway.
    const array = new Ctor(length) as InstanceType<C>;
    const bytes = new Uint8Array(array.buffer, 0, array.byteLength);
    const saved = this.#restoredRegions.get(name);
    if (saved) {
      if (saved[0] !== type || saved[1].byteLength !== bytes.length) {
        throw new RegionMismatchError(
          `region ${JSON.stringify(name)} of team member ${this.rank} was checkpointed as ${saved[0]} of ${saved[1].byteLength} bytes but now asks for ${type}(${length})`,
        );
      }
      bytes.set(new Uint8Array(saved[1]));
    }
    this.#regions.set(name, { type, bytes });
    return array;
  }

  shared<C extends RegionConstructor>(name: string, Ctor: C, length: number): InstanceType<C> {
    // A string here (it is posted); its length, with the shared prefix, and the array's length are
    // checked by the leader (SharedRegistry.get), which answers with the error.
    checkName('shared', name);
    const type = regionTypeName(Ctor);
    const known = this.#shared.get(name) as InstanceType<C> | undefined;
    if (known && known.constructor === Ctor && known.length === length) return known;
    // Ask the leader, and block until it answers on this member's port (its event loop is free).
    const request = ++this.#requests;
    const slot = SYNC_WORDS + this.rank;
    this.#post({ type: 'shared', rank: this.rank, request, name, typeName: type, length });
    waitUntil(this.#sync, slot, request);
    const answer = receiveMessageOnPort(this.#data.port)?.message as SharedAnswer | undefined;
    if (!answer) throw new Error(`shared ${JSON.stringify(name)}: the leader did not answer`);
    if (!answer.ok) throw fromErrorRecord(answer.error);
    const view = new Ctor(answer.buffer as unknown as ArrayBuffer, 0, length) as InstanceType<C>;
    this.#shared.set(name, view);
    return view;
  }

  checkpoint(): Promise<boolean> {
    const calls = ++this.#calls;
    const every = this.#data.everyCalls;
    const { due, generation } = arrive(this.#sync, this.size, () => {
      const byTime = Atomics.exchange(this.#sync, SYNC_TIME_DUE, 0) === 1;
      const requested = this.#control !== null && Atomics.load(this.#control, 0) !== CONTROL_NONE;
      return (every !== null && calls % every === 0) || byTime || requested;
    });
    if (!due) return Promise.resolve(false);
    this.#capture(generation);
    // Every member waits until the leader captured the image: the shared buffers must not change before.
    waitUntil(this.#sync, SYNC_CAPTURED, generation);
    return Promise.resolve(true);
  }

  #capture(generation: number): void {
    this.#rng?.capture();
    // Each region is copied into shared memory, which crosses without being transferred: a
    // transferred ArrayBuffer is detached, and one detached ArrayBuffer makes V8 check every
    // typed-array access of this member's optimized code for it from then on (see
    // pipeline/checkpointer.ts, #stage).
    const regions: [string, RegionTypeName, SharedArrayBuffer][] = [];
    for (const [name, r] of this.#regions) {
      const copy = new Uint8Array(new SharedArrayBuffer(r.bytes.length));
      copy.set(r.bytes);
      regions.push([name, r.type, copy.buffer as SharedArrayBuffer]);
    }
    const states = [...this.#states];
    try {
      parentPort!.postMessage({ type: 'capture', rank: this.rank, generation, states, regions } satisfies MemberMessage);
    } catch (err) {
      const name = states.find(([, value]) => !cloneable(value))?.[0] ?? '?';
      throw new StateCaptureError(`state ${JSON.stringify(name)} of team member ${this.rank}`, `not cloneable (${(err as Error).message})`);
    }
  }

  log(...args: unknown[]): void {
    this.#post({ type: 'log', line: args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ') });
  }

  progress(fraction: number, message?: string): void {
    if (!Number.isFinite(fraction)) throw new RangeError('progress fraction must be a number from 0 to 1');
    this.#post({ type: 'progress', fraction: Math.min(1, Math.max(0, fraction)), message: message ?? null });
  }

  #post(message: MemberMessage): void {
    parentPort!.postMessage(message);
  }
}

function cloneable(value: unknown): boolean {
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}

async function main(data: MemberData): Promise<void> {
  const member = new TeamMember(data);
  try {
    const main = await importJobModule(data.moduleUrl, 'team member');
    const result = await (main as (cr: TeamMemberCr, args: unknown) => unknown)(member, data.args);
    // A peer still waiting at a barrier now fails instead of waiting forever.
    Atomics.add(new Int32Array(data.sync), SYNC_FINISHED, 1);
    Atomics.notify(new Int32Array(data.sync), SYNC_GENERATION);
    parentPort!.postMessage({ type: 'done', rank: data.rank, result } satisfies MemberMessage);
  } catch (err) {
    parentPort!.postMessage({ type: 'failed', rank: data.rank, error: toErrorRecord(err) } satisfies MemberMessage);
  }
}

if (!isMainThread && (workerData as { crTeamMember?: MemberData } | null)?.crTeamMember) {
  const member = (workerData as { crTeamMember: MemberData }).crTeamMember;
  nameThread(`cr-member-${member.rank}`);
  await main(member);
}
