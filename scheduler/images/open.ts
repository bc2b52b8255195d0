// Which shared image store a location names: s3://… is S3-compatible object storage, anything
// else a directory every node mounts.
import { DirectoryStore } from './directory.js';
import { S3Store, type S3StoreOptions } from './s3.js';
import type { SharedStore } from './store.js';

export interface OpenStoreOptions extends S3StoreOptions {}

export function openSharedStore(location: string, options: OpenStoreOptions = {}): SharedStore {
  return location.startsWith('s3://') ? S3Store.open(location, options) : DirectoryStore.open(location);
}
