// Runs one attempt of a job inside a piscina worker thread: picks the image to restore from,
// builds the job's `cr`, imports the job module and calls its default export.
import { isMainThread } from 'node:worker_threads';
import { getCodec } from '../codec/index.js';
import { CrError, IdentityMismatchError, isImageFault, JobStoppedError, toErrorRecord } from '../errors.js';
import { DEFAULT_BLOCK_SIZE } from '../image/format.js';
import type { ImageReader } from '../image/reader.js';
import { ImageWriter } from '../image/writer.js';
import { JobContext, type JobEvents } from '../job/context.js';
import { setCurrentJob } from '../job/cr.js';
import { RestoredImage } from '../restore.js';
import { LocalStore } from '../store/local-store.js';
import { WRITER_NAME } from '../version.js';
import { importJobModule } from '../loader/job-module.js';
import { checkResume } from './identity.js';
import type { JobEvent, JobTask, JobTaskResult } from './task.js';
import { nameThread } from '../thread-name.js';

// Loaded by piscina in the job's worker thread; never rename a main thread that imports it.
if (!isMainThread) nameThread('cr-job');

export default async function runAttempt(task: JobTask): Promise<JobTaskResult> {
  const post = (event: JobEvent): void => task.port.postMessage(event);
  let restoringFrom: number | null = null;
  let context: JobContext | null = null;
  try {
    const codec = await getCodec({ prefer: task.codec === 'auto' ? undefined : task.codec });
    const store = LocalStore.open({
      dir: task.storeDir,
      keyFile: task.keyFile,
      keepImages: task.keepImages,
      warn: (message) => post({ type: 'warning', message }),
    });
    let restored: RestoredImage | null = null;
    const skipped: { file: string; error: string }[] = [];
    // The one check of what an image was made by, before anything of it is restored.
    const check = (reader: ImageReader, what: string): void => {
      const note = checkResume(reader.manifest.identity, task.identity, task.allowCodeChange, what);
      if (note !== null) post({ type: 'warning', message: note });
    };
    if (task.from) {
      const reader = store.openImage(task.from, codec, { job: task.job });
      restoringFrom = reader.manifest.sequence;
      try {
        try {
          check(reader, `image ${task.from}`);
        } catch (err) {
          // An image named by the task is the caller's explicit choice (to run a finished job on
          // for more steps, say): what differs is said, not refused.
          if (!(err instanceof IdentityMismatchError)) throw err;
          post({ type: 'warning', message: `${err.message}; resuming from it, as it was named explicitly` });
        }
        restored = RestoredImage.load(reader);
      } catch (err) {
        reader.close();
        throw err;
      }
    } else {
      // Every block is decoded and verified before the job runs: a damaged one passes over to
      // the next older image, with nothing of the job started. An image of another computation
      // is not passed over: the run is refused.
      let loaded: RestoredImage | null = null;
      let refused: unknown = null;
      const latest = store.latest(task.job, codec, task.skipSequences, (reader) => {
        try {
          check(reader, `image ${reader.manifest.sequence} of "${task.job}"`);
        } catch (err) {
          refused = err;
          return;
        }
        loaded = RestoredImage.load(reader);
      });
      for (const s of latest?.skipped ?? []) skipped.push({ file: s.entry.file, error: s.error.message });
      if (refused !== null) {
        latest?.reader.close();
        throw refused;
      }
      if (latest) {
        restoringFrom = latest.entry.sequence;
        restored = loaded;
      }
    }
    const events: JobEvents = {
      progress: (fraction, message) => post({ type: 'progress', fraction, message }),
      log: (line) => post({ type: 'log', line }),
      warning: (message) => post({ type: 'warning', message }),
      checkpoint: (info) => post({ type: 'checkpoint', info }),
      checkpointFailed: (failure) => post({ type: 'checkpoint-failed', failure }),
    };
    const writer = new ImageWriter({
      codec,
      key: store.key,
      level: task.level,
      blockSize: DEFAULT_BLOCK_SIZE,
      batchBlocks: 8,
      writerName: `${WRITER_NAME} (${codec.description})`,
    });
    context = new JobContext({
      job: task.job,
      attempt: task.attempt,
      store,
      writer,
      restored,
      policy: task.policy,
      fullEvery: task.fullEvery,
      dirty: task.dirty,
      capture: task.capture,
      control: new Int32Array(task.control),
      events,
      identity: task.identity,
    });
    post({ type: 'started', attempt: task.attempt, image: context.image, codec: codec.description, skipped });
    const main = await importJobModule(task.jobUrl, 'job');
    setCurrentJob(context);
    // Restore errors from here on come from the regions the job registers.
    const result = await (main as (cr: unknown, args: unknown) => unknown)(context, task.args);
    restoringFrom = null;
    await context.close();
    return { status: 'succeeded', result };
  } catch (err) {
    await context?.close().catch(() => undefined);
    if (err instanceof JobStoppedError) return { status: 'stopped', imageId: err.imageId };
    const record = toErrorRecord(err);
    // Only an image error says the image was at fault; anything else is the job's.
    const imageFault = err instanceof CrError && isImageFault(err.code);
    return { status: 'failed', error: record, restoringFrom: imageFault ? restoringFrom : null };
  } finally {
    setCurrentJob(null);
    task.port.close();
  }
}
