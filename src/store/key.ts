// The image key: 32 random bytes that tag every image (HMAC-SHA256, docs/image-format.md).
// A store creates it on first use, mode 0600; a user can give one explicitly instead.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { KeyError } from '../errors.js';
import { createFileOnceSync } from './durable.js';

export const KEY_LENGTH = 32;
export const MIN_KEY_LENGTH = 16;

/** Reads an explicit key file: raw bytes (≥ 16), or a hex string of them. */
export function readKeyFile(file: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new KeyError(`cannot read the image key file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
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
  const key = fs.readFileSync(file);
  if (key.length !== KEY_LENGTH) {
    throw new KeyError(
      `the store's image key ${file} is ${key.length} bytes, expected ${KEY_LENGTH}: it is damaged. ` +
        'Restore it from a backup; without it, existing images cannot be authenticated',
    );
  }
  return key;
}
