// The public face of cr: the job API and its error classes. Everything else is internal.
export { cr, type Cr } from './job/cr.js';
export type { Job } from './job/job-type.js';
export type { CheckpointInfo, CheckpointOptions } from './job/context.js';
export type { ImageInfo } from './restore.js';
export type { RegionArray, RegionConstructor } from './image/format.js';
export type { CrFile, FileMode } from './job/files.js';
export type { ProtectedMemory, WasmMemory } from './job/protect.js';
export type { Rng, Seed } from './job/rng.js';
export type { TeamMemberCr } from './job/team-member.js';
export {
  CrError,
  ImageCorruptError,
  ImageAuthError,
  ImageVersionError,
  StateCaptureError,
  RegionMismatchError,
  CheckpointError,
  StoreLockedError,
  NoImageError,
  NotInJobError,
  JobStoppedError,
  KeyError,
  FileMismatchError,
  IdentityMismatchError,
  JobFileError,
  type CrErrorCode,
} from './errors.js';
