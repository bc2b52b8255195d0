// Which shared image store a location names: s3://… is S3-compatible object storage, anything
// else a directory every node mounts. The AWS SDK is loaded only for an S3 store (it takes a
// noticeable fraction of a second to load, which every agent and `serve` would pay otherwise).
import { DirectoryStore } from './directory.js';
import type { S3StoreOptions } from './s3.js';
import type { SharedStore } from './store.js';

export interface OpenStoreOptions extends S3StoreOptions {
  /** The scheduler: mark a directory as its store (agents only open it). */
  create?: boolean;
}

export async function openSharedStore(location: string, options: OpenStoreOptions = {}): Promise<SharedStore> {
  if (!location.startsWith('s3://')) return DirectoryStore.open(location, { create: options.create ?? false });
  const { S3Store } = await import('./s3.js');
  return S3Store.open(location, options);
}
