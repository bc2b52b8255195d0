// Files a job reads and writes through `cr.open()`, kept consistent with its images.
//
// An output file's length is recorded at every checkpoint; a restarted job that opens it again
// finds it truncated back to the length its image recorded, so lines written after that image
// (and before the crash) are not written twice. An input file's read position is recorded, and
// a restarted job reads on from there.
//
// Crash consistency. At a safe point that takes an image, every open output file is written out
// and fdatasync'ed *before* its length L is captured into the image, and the image is committed
// after the capture. So whenever an image that records L exists on disk, the file's first L
// bytes are durable too (a new file's directory entry is fsynced once as well). Then:
//   - the process dies after writing lines but before the next image: the newest image records
//     some L ≤ the file's length; restart truncates to L and the job, resumed from the state of
//     that same safe point, writes those lines again: none twice, none missing;
//   - it dies after the capture but before the image is committed: the previous image (L₀ ≤ L)
//     is the newest; its L₀ bytes were made durable at its own checkpoint;
//   - it dies after the commit, before the next write: the file holds exactly L bytes.
// The bytes before L are never rewritten (a restart truncates, then appends), so any image older
// than the newest (a fallback when the newest fails verification) also finds its prefix intact.
import fs from 'node:fs';
import path from 'node:path';
import { FileMismatchError } from '../errors.js';

export type FileMode = 'r' | 'w' | 'a';
const MODES: readonly FileMode[] = ['r', 'w', 'a'];

/** How a file is kept in the image. */
interface FileRecord {
  mode: FileMode;
  /** Output: bytes written. Input: bytes the job has consumed. */
  position: number;
  /** Whether the job had it open when the image was taken. */
  open: boolean;
  /** Input files: the file's size when the job first opened it (a change is reported). */
  size: number;
}

/** The registered state "cr:files": every file the job opened, by absolute path. */
export interface FilesStateValue {
  files: Map<string, FileRecord>;
}

export const FILES_STATE_NAME = 'cr:files';
const BUFFER_BYTES = 64 * 1024;

/** A file opened with `cr.open()`. */
export interface CrFile {
  /** The absolute path. */
  readonly path: string;
  readonly mode: FileMode;
  /** Output: bytes written so far (buffered ones included). Input: bytes read so far. */
  readonly position: number;
  /** Output files: appends text (UTF-8) or bytes. Buffered; written out at checkpoints, flush() and close(). */
  write(data: string | ArrayBufferView): void;
  /** Output files: appends `line` and a newline. */
  writeLine(line: string): void;
  /** Input files: the next line without its line ending (`\n` or `\r\n`), or null at the end of the file. */
  readLine(): string | null;
  /** Input files: reads up to `target.byteLength` bytes into `target`; returns how many (0 at the end). */
  read(target: ArrayBufferView): number;
  /** Output files: hands buffered bytes to the OS (not a durability point: checkpoints are). */
  flush(): void;
  /** Flushes, makes an output file durable, and closes it. Idempotent. */
  close(): void;
}

export class FileRegistry {
  readonly value: FilesStateValue;
  readonly #open = new Map<string, OpenFile>();
  readonly #warning: (message: string) => void;
  readonly #image: string | null;

  /** `restored`: the "cr:files" state of the image, if any; `image`: its id, for messages. */
  constructor(restored: unknown, image: string | null, warning: (message: string) => void) {
    this.value = isFilesState(restored) ? restored : { files: new Map() };
    this.#image = image;
    this.#warning = warning;
  }

  get size(): number {
    return this.value.files.size;
  }

  open(file: unknown, mode: unknown): CrFile {
    if (typeof file !== 'string' || file.length === 0) throw new TypeError('open(path, mode): path must be a non-empty string');
    if (!MODES.includes(mode as FileMode)) throw new TypeError(`open(path, mode): mode must be 'r', 'w' or 'a', got ${JSON.stringify(mode)}`);
    const absolute = path.resolve(file);
    if (this.#open.has(absolute)) throw new TypeError(`open(path, mode): ${absolute} is already open in this job; close it first`);
    const saved = this.value.files.get(absolute);
    const record = saved && saved.mode === mode ? saved : undefined;
    const opened = mode === 'r' ? this.#openInput(absolute, record) : this.#openOutput(absolute, mode as 'w' | 'a', record);
    this.#open.set(absolute, opened);
    this.value.files.set(absolute, opened.record);
    return opened;
  }

  #openInput(file: string, saved: FileRecord | undefined): OpenFile {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      let position = 0;
      if (saved?.open) {
        if (size < saved.position) {
          throw new FileMismatchError(
            file,
            `input file ${file} has ${size} bytes, but image ${this.#image} had read it to byte ${saved.position}: it was changed outside the job; restore it`,
          );
        }
        if (size !== saved.size) this.#warning(`input file ${file} changed size since the job first opened it (${saved.size} → ${size} bytes): it reads on from byte ${saved.position}`);
        position = saved.position;
      }
      return new OpenFile(this, file, 'r', fd, position, { mode: 'r', position, open: true, size: saved?.open ? saved.size : size }, false);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  #openOutput(file: string, mode: 'w' | 'a', saved: FileRecord | undefined): OpenFile {
    // Where the restarted job stands: a file open in the image is cut back to the length the image
    // recorded; an append file closed in the image goes on from its length at the close; a 'w'
    // file closed in the image is being written anew (the job reopens it after that image).
    const keep = saved && (saved.open || mode === 'a') ? saved.position : null;
    const existed = fs.existsSync(file);
    const fd = fs.openSync(file, keep === null && mode === 'w' ? 'w' : fs.constants.O_WRONLY | fs.constants.O_CREAT);
    try {
      const size = fs.fstatSync(fd).size;
      let position: number;
      if (keep !== null) {
        if (size < keep) {
          throw new FileMismatchError(
            file,
            `output file ${file} has ${size} bytes, but image ${this.#image} recorded ${keep}: it was changed outside the job; restore it`,
          );
        }
        if (size > keep) fs.ftruncateSync(fd, keep);
        position = keep;
      } else {
        position = mode === 'a' ? size : 0;
      }
      return new OpenFile(this, file, mode, fd, position, { mode, position, open: true, size: 0 }, !existed);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /** At a safe point that takes an image: every output durable up to the length then recorded. */
  capture(): void {
    for (const file of this.#open.values()) file.capture();
  }

  /** Internal: a file was closed. */
  closed(file: OpenFile): void {
    if (this.#open.get(file.path) === file) this.#open.delete(file.path);
  }

  /** At the job's end. */
  closeAll(): void {
    for (const file of [...this.#open.values()]) file.close();
  }
}

class OpenFile implements CrFile {
  readonly path: string;
  readonly mode: FileMode;
  readonly record: FileRecord;
  readonly #registry: FileRegistry;
  #fd: number | null;
  /** Output: buffered bytes not yet written. Input: bytes read ahead. */
  #buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  /** Output: bytes in #buffer. Input: end of the read-ahead in #buffer. */
  #filled = 0;
  /** Input: the next unread byte in #buffer. */
  #cursor = 0;
  /** Output: bytes handed to the OS. Input: the file offset of #buffer[0]. */
  #base: number;
  #eof = false;
  #syncDirectory: boolean;

  constructor(registry: FileRegistry, file: string, mode: FileMode, fd: number, position: number, record: FileRecord, created: boolean) {
    this.#registry = registry;
    this.path = file;
    this.mode = mode;
    this.#fd = fd;
    this.#base = position;
    this.record = record;
    this.#syncDirectory = created;
  }

  get position(): number {
    return this.mode === 'r' ? this.#base + this.#cursor : this.#base + this.#filled;
  }

  write(data: string | ArrayBufferView): void {
    const fd = this.#output('write');
    let bytes: Uint8Array;
    if (typeof data === 'string') bytes = Buffer.from(data, 'utf8');
    else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else throw new TypeError('write(data): data must be a string or a typed array');
    if (this.#filled + bytes.length > BUFFER_BYTES) this.#drain(fd);
    if (bytes.length >= BUFFER_BYTES) {
      this.#writeAll(fd, bytes);
    } else {
      this.#buffer.set(bytes, this.#filled);
      this.#filled += bytes.length;
    }
  }

  writeLine(line: string): void {
    if (typeof line !== 'string') throw new TypeError('writeLine(line): line must be a string');
    this.write(`${line}\n`);
  }

  readLine(): string | null {
    const fd = this.#input('readLine');
    for (;;) {
      const newline = this.#buffer.indexOf(10, this.#cursor);
      if (newline !== -1 && newline < this.#filled) {
        const end = newline > this.#cursor && this.#buffer[newline - 1] === 13 ? newline - 1 : newline;
        const line = this.#buffer.toString('utf8', this.#cursor, end);
        this.#cursor = newline + 1;
        return line;
      }
      if (this.#eof || !this.#readAhead(fd)) {
        if (this.#cursor === this.#filled) return null;
        const line = this.#buffer.toString('utf8', this.#cursor, this.#filled);
        this.#cursor = this.#filled;
        return line;
      }
    }
  }

  read(target: ArrayBufferView): number {
    const fd = this.#input('read');
    if (!ArrayBuffer.isView(target)) throw new TypeError('read(target): target must be a typed array or DataView');
    const into = new Uint8Array(target.buffer, target.byteOffset, target.byteLength);
    let done = 0;
    while (done < into.length) {
      if (this.#cursor === this.#filled && (this.#eof || !this.#readAhead(fd))) break;
      const n = Math.min(into.length - done, this.#filled - this.#cursor);
      into.set(this.#buffer.subarray(this.#cursor, this.#cursor + n), done);
      this.#cursor += n;
      done += n;
    }
    return done;
  }

  flush(): void {
    this.#drain(this.#output('flush'));
  }

  close(): void {
    if (this.#fd === null) return;
    try {
      if (this.mode !== 'r') this.capture();
      else this.record.position = this.position;
    } finally {
      fs.closeSync(this.#fd);
      this.#fd = null;
      this.record.open = false;
      this.#registry.closed(this);
    }
  }

  /** Makes everything written so far durable, then records the position (the order is the invariant above). */
  capture(): void {
    if (this.#fd === null) return;
    if (this.mode !== 'r') {
      this.#drain(this.#fd);
      fs.fdatasyncSync(this.#fd);
      if (this.#syncDirectory) {
        syncDirectory(path.dirname(this.path));
        this.#syncDirectory = false;
      }
    }
    this.record.position = this.position;
  }

  #drain(fd: number): void {
    if (this.#filled === 0) return;
    const filled = this.#filled;
    this.#filled = 0;
    this.#writeAll(fd, this.#buffer.subarray(0, filled));
  }

  #writeAll(fd: number, bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) {
      done += fs.writeSync(fd, bytes, done, bytes.length - done, this.#base + done);
    }
    this.#base += bytes.length;
  }

  /** Reads more of the file into the buffer (keeping the unread part); false at the end. */
  #readAhead(fd: number): boolean {
    if (this.#cursor > 0) {
      this.#buffer.copy(this.#buffer, 0, this.#cursor, this.#filled);
      this.#base += this.#cursor;
      this.#filled -= this.#cursor;
      this.#cursor = 0;
    }
    if (this.#filled === this.#buffer.length) this.#grow();
    const n = fs.readSync(fd, this.#buffer, this.#filled, this.#buffer.length - this.#filled, this.#base + this.#filled);
    if (n === 0) this.#eof = true;
    this.#filled += n;
    return n > 0;
  }

  /** A line longer than the read-ahead buffer: the buffer doubles. */
  #grow(): void {
    const bigger = Buffer.allocUnsafe(this.#buffer.length * 2);
    this.#buffer.copy(bigger, 0, 0, this.#filled);
    this.#buffer = bigger;
  }

  #output(what: string): number {
    if (this.mode === 'r') throw new TypeError(`${what}(): ${this.path} was opened for reading (mode 'r')`);
    return this.#open(what);
  }

  #input(what: string): number {
    if (this.mode !== 'r') throw new TypeError(`${what}(): ${this.path} was opened for writing (mode '${this.mode}')`);
    return this.#open(what);
  }

  #open(what: string): number {
    if (this.#fd === null) throw new TypeError(`${what}(): ${this.path} is closed`);
    return this.#fd;
  }
}

function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function isFilesState(value: unknown): value is FilesStateValue {
  if (typeof value !== 'object' || value === null || !((value as FilesStateValue).files instanceof Map)) return false;
  for (const r of (value as FilesStateValue).files.values()) {
    if (!MODES.includes(r?.mode) || !Number.isSafeInteger(r.position) || r.position < 0 || typeof r.open !== 'boolean') return false;
  }
  return true;
}
