// A team of worker threads started by `cr.team(n, file, args)`, seen from the job's thread (the
// leader). The members decide together at which safe point an image is taken (team-sync.ts); each
// posts its states and a copy of its regions, and the leader writes them into one image, one
// section per member state and region ("cr:team:<rank>:<name>"), with the team's shared buffers
// once ("cr:shared:<name>"). While the leader captures, every member waits at the barrier, so the
// image holds one moment of the whole team. A member that fails or dies ends the attempt: every
// member is stopped, and the runner restarts the whole team from the last image.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { RegisteredRegion } from '../capture/capture.js';
import { checkLength, checkName } from '../capture/registration.js';
import { RegionMismatchError, toErrorRecord, type ErrorRecord } from '../errors.js';
import { REGION_TYPES, type RegionTypeName } from '../image/format.js';
import type { RegionMemory } from '../region.js';
import type { RestoredImage } from '../restore.js';
import type { JobEvents } from '../pipeline/checkpointer.js';
import type { MemberData, MemberMessage, SharedAnswer } from './team-member.js';
import { SYNC_ABORT, SYNC_CAPTURED, SYNC_TIME_DUE, SYNC_WORDS } from './team-sync.js';

export const TEAM_PREFIX = 'cr:team:';
export const SHARED_PREFIX = 'cr:shared:';
export const MAX_TEAM_SIZE = 256;
const MEMBER_URL = new URL('./team-member.js', import.meta.url);

/** The SharedArrayBuffers of a job's team, by name; restored from the image when first asked for. */
export class SharedRegistry {
  readonly #buffers = new Map<string, { type: RegionTypeName; length: number; buffer: SharedArrayBuffer }>();
  readonly #restored: RestoredImage | null;

  constructor(restored: RestoredImage | null) {
    this.#restored = restored;
  }

  get size(): number {
    return this.#buffers.size;
  }

  get(name: string, type: RegionTypeName, length: number): SharedArrayBuffer {
    checkName('shared', name, SHARED_PREFIX);
    const known = this.#buffers.get(name);
    if (known) {
      if (known.type !== type || known.length !== length) {
        throw new TypeError(`shared ${JSON.stringify(name)} is a ${known.type}(${known.length}); it was asked for as ${type}(${length})`);
      }
      return known.buffer;
    }
    checkLength('shared', name, length);
    const bytes = length * REGION_TYPES[type].BYTES_PER_ELEMENT;
    const buffer = new SharedArrayBuffer(bytes);
    const section = SHARED_PREFIX + name;
    if (this.#restored?.regionShape(section)) {
      this.#restored.restoreRegion(section, type, length, { bytes: new Uint8Array(buffer) } as unknown as RegionMemory);
    }
    this.#buffers.set(name, { type, length, buffer });
    return buffer;
  }

  /** The shared buffers as regions, for one capture (taken while every member waits). */
  regions(): [string, RegisteredRegion][] {
    return [...this.#buffers].map(([name, b]) => {
      const bytes = new Uint8Array(b.buffer) as unknown as Uint8Array<ArrayBuffer>;
      const memory = { array: bytes, bytes, native: false, free: () => undefined } as RegionMemory;
      return [SHARED_PREFIX + name, { type: b.type, elementSize: REGION_TYPES[b.type].BYTES_PER_ELEMENT, memory, tracker: null }];
    });
  }
}

/** What a team needs from the job it runs in. */
export interface TeamHost {
  restored: RestoredImage | null;
  attempt: number;
  control: Int32Array | null;
  everyCalls: number | null;
  /** The checkpoint interval now, ms (Infinity when not by time); Young's interval changes with the cost. */
  intervalMs(): number;
  events: JobEvents;
  shared: SharedRegistry;
  /** Takes an image now (what the members' decision asked for); resolves once it is captured. */
  capture(): Promise<unknown>;
}

type Capture = Extract<MemberMessage, { type: 'capture' }>;

export class Team {
  readonly #host: TeamHost;
  readonly #size: number;
  readonly #sync: Int32Array;
  readonly #workers: Worker[] = [];
  readonly #ports: MessagePort[] = [];
  readonly #captures = new Map<number, Capture>();
  /** The capture being written into an image: its states and regions join the job's. */
  #pending: Capture[] | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(host: TeamHost, size: number) {
    this.#host = host;
    this.#size = size;
    this.#sync = new Int32Array(new SharedArrayBuffer(4 * (SYNC_WORDS + size)));
  }

  /** The members' states of the capture in progress. */
  states(): [string, unknown][] {
    const out: [string, unknown][] = [];
    for (const c of this.#pending ?? []) for (const [name, value] of c.states) out.push([memberPrefix(c.rank) + name, value]);
    return out;
  }

  /** The members' regions of the capture in progress. */
  regions(): [string, RegisteredRegion][] {
    const out: [string, RegisteredRegion][] = [];
    for (const c of this.#pending ?? []) {
      for (const [name, type, buffer] of c.regions) {
        const bytes = new Uint8Array(buffer);
        const memory = { array: bytes, bytes, native: false, free: () => undefined } as unknown as RegionMemory;
        out.push([memberPrefix(c.rank) + name, { type, elementSize: REGION_TYPES[type].BYTES_PER_ELEMENT, memory, tracker: null }]);
      }
    }
    return out;
  }

  run(moduleUrl: string, args: unknown): Promise<unknown[]> {
    const restored = this.#restoredParts();
    const results: unknown[] = new Array(this.#size);
    const finished = new Set<number>();
    const exits: Promise<void>[] = [];
    let settled = false;
    return new Promise<unknown[]>((resolve, reject) => {
      const finish = async (err: Error | null): Promise<void> => {
        if (settled) return;
        settled = true;
        if (this.#timer) clearTimeout(this.#timer);
        if (err) {
          // Members blocked at the barrier see the abort word and unwind; terminate ends the rest.
          Atomics.store(this.#sync, SYNC_ABORT, 1);
          for (let i = 0; i < this.#sync.length; i++) Atomics.notify(this.#sync, i);
        }
        // After success the members end by themselves; after a failure, the ones still running
        // are terminated (members make no native calls that terminate() could cut short).
        await Promise.all(this.#workers.map((w, i) => (err ? w.terminate().catch(() => undefined) : exits[i])));
        for (const port of this.#ports) port.close();
        if (err) reject(err);
        else resolve(results);
      };
      const fail = (err: Error): void => void finish(err);
      this.#armTimer();
      for (let rank = 0; rank < this.#size; rank++) {
        const { port1, port2 } = new MessageChannel();
        this.#ports.push(port1);
        const part = restored.get(rank) ?? null;
        const data: MemberData = {
          rank,
          sectionPrefix: memberPrefix(rank),
          size: this.#size,
          moduleUrl,
          args,
          attempt: this.#host.attempt,
          sync: this.#sync.buffer as SharedArrayBuffer,
          control: (this.#host.control?.buffer as SharedArrayBuffer | undefined) ?? null,
          everyCalls: this.#host.everyCalls,
          port: port2,
          restored: this.#host.restored ? (part ?? { states: [], regions: [] }) : null,
        };
        const worker = new Worker(MEMBER_URL, { workerData: { crTeamMember: data }, transferList: [port2] });
        this.#workers.push(worker);
        exits.push(new Promise((resolve) => worker.once('exit', () => resolve())));
        worker.on('message', (message: MemberMessage) => {
          if (settled) return;
          switch (message.type) {
            case 'capture':
              this.#captures.set(message.rank, message);
              if (this.#captures.size === this.#size) this.#serve(message.generation).catch(fail);
              break;
            case 'shared':
              this.#answer(message, port1);
              break;
            case 'log':
              this.#host.events.log(message.line);
              break;
            case 'progress':
              this.#host.events.progress(message.fraction, message.message);
              break;
            case 'done':
              results[message.rank] = message.result;
              finished.add(message.rank);
              if (finished.size === this.#size) void finish(null);
              break;
            case 'failed':
              fail(memberError(message.rank, message.error));
              break;
          }
        });
        worker.on('error', (err) => fail(memberError(rank, toErrorRecord(err))));
        worker.on('exit', (code) => {
          if (!finished.has(rank) && !settled) fail(new Error(`team member ${rank} exited (code ${code}) before it finished: the team goes back to its last image`));
        });
      }
    });
  }

  /** All members are at the same safe point and have posted their part: one image of the team. */
  async #serve(generation: number): Promise<void> {
    this.#pending = [...this.#captures.values()].sort((a, b) => a.rank - b.rank);
    this.#captures.clear();
    try {
      await this.#host.capture();
    } finally {
      this.#pending = null;
    }
    Atomics.store(this.#sync, SYNC_CAPTURED, generation);
    Atomics.notify(this.#sync, SYNC_CAPTURED);
    this.#armTimer();
  }

  #answer(message: Extract<MemberMessage, { type: 'shared' }>, port: MessagePort): void {
    let answer: SharedAnswer;
    try {
      answer = { ok: true, buffer: this.#host.shared.get(message.name, message.typeName, message.length) };
    } catch (err) {
      answer = { ok: false, error: toErrorRecord(err) };
    }
    port.postMessage(answer);
    Atomics.store(this.#sync, SYNC_WORDS + message.rank, message.request);
    Atomics.notify(this.#sync, SYNC_WORDS + message.rank);
  }

  /** The interval timer: the next safe point after it fires takes an image. */
  #armTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    const ms = this.#host.intervalMs();
    this.#timer = Number.isFinite(ms) ? setTimeout(() => Atomics.store(this.#sync, SYNC_TIME_DUE, 1), ms) : null;
    this.#timer?.unref();
  }

  /** Each member's states and regions in the image, by rank. */
  #restoredParts(): Map<number, NonNullable<MemberData['restored']>> {
    const parts = new Map<number, NonNullable<MemberData['restored']>>();
    const restored = this.#host.restored;
    if (!restored) return parts;
    const part = (rank: number): NonNullable<MemberData['restored']> => {
      if (rank >= this.#size) {
        throw new RegionMismatchError(`the image holds a team member of rank ${rank}, but this attempt starts a team of ${this.#size}: start the same team`);
      }
      let p = parts.get(rank);
      if (!p) parts.set(rank, (p = { states: [], regions: [] }));
      return p;
    };
    for (const name of restored.names(TEAM_PREFIX)) {
      const match = /^(\d+):(.+)$/.exec(name.kind === 'state' ? name.name.slice(TEAM_PREFIX.length) : name.name.slice(TEAM_PREFIX.length));
      if (!match) continue;
      const rank = Number(match[1]);
      if (name.kind === 'state') {
        part(rank).states.push([match[2]!, restored.state(name.name)!.value]);
      } else {
        const shape = restored.regionShape(name.name)!;
        const type = shape.type as RegionTypeName;
        // Shared, so that it reaches the member without a transfer (which would detach it here).
        const buffer = new SharedArrayBuffer(shape.bytes);
        restored.restoreRegion(name.name, type, shape.bytes / REGION_TYPES[type].BYTES_PER_ELEMENT, { bytes: new Uint8Array(buffer) } as RegionMemory);
        part(rank).regions.push([match[2]!, type, buffer]);
      }
    }
    return parts;
  }
}

/** What a member's states and regions are called in the team's image, before their own names. */
function memberPrefix(rank: number): string {
  return `${TEAM_PREFIX}${rank}:`;
}

/** A member's file as a module URL: a URL or file: URL string as is, a path from the current directory. */
export function memberModuleUrl(file: unknown): string {
  if (file instanceof URL) return file.href;
  if (typeof file !== 'string' || file.length === 0) throw new TypeError('team(n, workerFile, args): workerFile must be a path or a URL of the members\' module');
  return /^[a-z]+:/i.test(file) && !/^[a-z]:[\\/]/i.test(file) ? file : pathToFileURL(path.resolve(file)).href;
}

function memberError(rank: number, error: ErrorRecord): Error {
  const err = new Error(`team member ${rank} failed: ${error.message}`);
  if (error.code) (err as Error & { code: string }).code = error.code;
  if (error.stack) err.stack = `${err.message}\n--- in team member ${rank} ---\n${error.stack}`;
  return err;
}
