// The image key: 32 random bytes that tag every image (HMAC-SHA256, docs/image-format.md).
// A store creates it on first use, mode 0600; a user can give one explicitly instead.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { KeyError } from '../errors.js';
import { createFileOnceSync } from './durable.js';

export const KEY_LENGTH = 32;
export const MIN_KEY_LENGTH = 16;
/** A key file is a key (or its hex text), never more: a larger file is a wrong path, not a key. */
export const MAX_KEY_FILE_BYTES = 4096;

/**
 * The bytes of a key file. Only a regular file is read: a FIFO or a device (`--key-file
 * /dev/stdin`, a named pipe) would block the run forever, or read without end.
 */
function readKeyBytes(file: string, what: string): Buffer {
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) throw new KeyError(`${what} ${file} is not a regular file`);
    if (stat.size > MAX_KEY_FILE_BYTES) throw new KeyError(`${what} ${file} is ${stat.size} bytes: a key file holds a key of at most ${MAX_KEY_FILE_BYTES} bytes`);
    return fs.readFileSync(file);
  } catch (err) {
    if (err instanceof KeyError) throw err;
    throw new KeyError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Reads an explicit key file: raw bytes (≥ 16), or a hex string of them. */
export function readKeyFile(file: string): Buffer {
  let bytes = readKeyBytes(file, 'the image key file');
  const text = bytes.toString('utf8').trim();
  if (/^([0-9a-fA-F]{2}){16,}$/.test(text)) bytes = Buffer.from(text, 'hex');
  if (bytes.length < MIN_KEY_LENGTH) {
    throw new KeyError(`the image key file ${file} holds ${bytes.length} bytes; a key has at least ${MIN_KEY_LENGTH}`);
  }
  return bytes;
}

/** Loads `file`, creating it with a fresh random key (mode 0600) when it does not exist. */
export function loadOrCreateKey(file: string): Buffer {
  if (!fs.existsSync(file)) createFileOnceSync(file, randomBytes(KEY_LENGTH), 0o600);
  const key = readKeyBytes(file, "the store's image key");
  if (key.length !== KEY_LENGTH) {
    throw new KeyError(
      `the store's image key ${file} is ${key.length} bytes, expected ${KEY_LENGTH}: it is damaged. ` +
        'Restore it from a backup; without it, existing images cannot be authenticated',
    );
  }
  return key;
}
