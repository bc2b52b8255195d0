// The job thread's side of the image writer thread (writer-thread.ts). A staged checkpoint is
// handed over as staging-memory views (a SharedArrayBuffer: nothing is copied, and nothing of the
// job's is transferred, which would detach it: see checkpointer.ts, #stage) and the writer
// thread encodes, writes and commits it on its own event loop. When it is done it posts the
// result on a MessagePort and then bumps a shared counter; a safe point compares that counter
// with the results it has seen (one Atomics.load: no allocation, no system call) and, when it
// moved, takes the result synchronously with receiveMessageOnPort. So the commit completes at
// the first safe point after it is durable, even in a job loop whose event loop never runs; when
// the event loop does run (the job awaits the image, or ended), the port's listener takes it.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { fromErrorRecord, type ErrorRecord } from '../errors.js';
import type { Manifest } from '../image/format.js';
import type { SectionInput } from '../image/sections.js';
import type { ImageWriter } from '../image/writer.js';
import type { LocalStore } from '../store/local-store.js';
import { checkpointFailure, type CommitRequest, type CommittedImage } from './commit.js';

/**
 * A commit as posted to the writer thread. The plan's parent is 'last' when it is the image the
 * writer thread committed last: a manifest is not copied across for every image.
 */
export interface PostedCommit {
  type: 'commit';
  request: Omit<CommitRequest, 'plan'> & { plan: Omit<CommitRequest['plan'], 'parent'> & { parent: Manifest | 'last' | null } };
}

/** Fresh staging memory to fault in (see capture/staging.ts); ready[0] is set to 1 after. */
export interface WarmRequest {
  type: 'warm';
  memory: Uint8Array;
  ready: Int32Array;
}

export type CommitResult =
  | { type: 'committed'; sequence: number; image: CommittedImage }
  | { type: 'failed'; sequence: number; error: ErrorRecord; errno: string | null };

/** `data` of a staged section on its way to the writer thread: it reads the staging memory. */
const NOT_SENT = new Uint8Array(0);

/** The sections as they cross to the writer thread: their views of staging memory only. */
function handOver(inputs: SectionInput[]): SectionInput[] {
  return inputs.map((s) => {
    if (!s.staged) throw new Error(`internal error: ${s.kind} "${s.name}" of a staged image is not staged`);
    return { ...s, data: NOT_SENT };
  });
}

export interface WriterThreadData {
  port: MessagePort;
  signal: Int32Array;
  store: { dir: string; key: Uint8Array; keepImages: number };
  writer: ImageWriter['settings'];
}

interface Thread {
  worker: Worker;
  port: MessagePort;
  signal: Int32Array;
}

export class BackgroundWriter {
  readonly #store: LocalStore;
  readonly #writer: ImageWriter;
  #thread: Thread | null = null;
  /** Results taken so far (by a safe point or by the port's listener). */
  #seen = 0;
  #pending: { job: string; sequence: number; resolve: (r: CommittedImage) => void; reject: (e: Error) => void } | null = null;
  /** The manifest the writer thread committed last, as received here. */
  #last: Manifest | null = null;

  constructor(store: LocalStore, writer: ImageWriter) {
    this.#store = store;
    this.#writer = writer;
  }

  /**
   * At a safe point: completes the commit in flight if the writer thread has finished it. The
   * usual case (nothing new) is one shared-memory load.
   */
  poll(): void {
    const thread = this.#thread;
    if (thread !== null && Atomics.load(thread.signal, 0) !== this.#seen) this.#drain(thread);
  }

  /** Hands a staged image to the writer thread; resolves once it is committed, rejects with a CrError. One at a time. */
  write(request: CommitRequest): Promise<CommittedImage> {
    if (this.#pending) throw new Error('internal error: a background commit is already in flight');
    const thread = this.#thread ?? (this.#thread = this.#start());
    const { parent } = request.plan;
    const sections = handOver(request.sections);
    const plan = { ...request.plan, parent: parent !== null && parent === this.#last ? ('last' as const) : parent };
    const posted: PostedCommit = { type: 'commit', request: { ...request, sections, plan } };
    return new Promise<CommittedImage>((resolve, reject) => {
      this.#pending = { job: request.header.job, sequence: request.header.sequence, resolve, reject };
      thread.port.ref(); // a job that awaits only this image must not see the process exit under it
      thread.port.postMessage(posted);
    });
  }

  /** Has the writer thread fault in fresh staging memory while the job goes on. */
  warm(memory: Uint8Array, ready: Int32Array): void {
    const thread = this.#thread ?? (this.#thread = this.#start());
    const request: WarmRequest = { type: 'warm', memory, ready };
    thread.port.postMessage(request);
  }

  /** Stops the writer thread; call once nothing is in flight. */
  async close(): Promise<void> {
    const thread = this.#thread;
    this.#thread = null;
    if (!thread) return;
    thread.port.close();
    await thread.worker.terminate();
  }

  #start(): Thread {
    const { port1, port2 } = new MessageChannel();
    const signal = new Int32Array(new SharedArrayBuffer(4));
    const data: WriterThreadData = {
      port: port2,
      signal,
      store: { dir: this.#store.dir, key: new Uint8Array(this.#store.key), keepImages: this.#store.keepImages },
      writer: this.#writer.settings,
    };
    const worker = new Worker(new URL('./writer-thread.js', import.meta.url), { workerData: data, transferList: [port2] });
    const thread: Thread = { worker, port: port1, signal };
    worker.unref();
    port1.on('message', (result: CommitResult) => this.#settle(thread, result));
    port1.unref();
    const lost = (why: string): void => {
      if (this.#thread === thread) this.#thread = null;
      this.#last = null;
      const pending = this.#pending;
      this.#pending = null;
      if (pending) pending.reject(checkpointFailure(new Error(`the image writer thread stopped (${why}) before the image was committed`), pending.job, pending.sequence));
    };
    worker.on('error', (err) => lost(err.message));
    worker.on('exit', (code) => lost(`exit code ${code}`));
    this.#seen = 0;
    return thread;
  }

  #drain(thread: Thread): void {
    for (let m = receiveMessageOnPort(thread.port); m !== undefined; m = receiveMessageOnPort(thread.port)) {
      this.#settle(thread, m.message as CommitResult);
    }
  }

  #settle(thread: Thread, result: CommitResult): void {
    this.#seen++;
    const pending = this.#pending;
    if (pending === null || pending.sequence !== result.sequence) return;
    this.#pending = null;
    thread.port.unref();
    if (result.type === 'committed') {
      this.#last = result.image.manifest;
      pending.resolve(result.image);
    } else {
      this.#last = null; // the writer thread forgot nothing, but the next image names its parent explicitly
      const error = fromErrorRecord(result.error);
      // The system error under it crosses the thread as its code only (what metrics count).
      if (result.errno !== null) error.cause = Object.assign(new Error(result.errno), { code: result.errno });
      pending.reject(checkpointFailure(error, pending.job, pending.sequence));
    }
  }
}
