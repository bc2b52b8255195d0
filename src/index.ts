// The public face of cr: the job API and its error classes. Everything else is internal.
export { cr, type Cr } from './job/cr.js';
export type { Job } from './job/job-type.js';
export type { CheckpointInfo, CheckpointOptions } from './job/context.js';
export type { ImageInfo } from './restore.js';
export type { RegionArray, RegionConstructor } from './image/format.js';
export type { CrFile, FileMode } from './determinism/files.js';
export type { ProtectedMemory, WasmMemory } from './determinism/protect.js';
export type { Rng, Seed } from './determinism/rng.js';
export type { TeamMemberCr } from './team/team-member.js';
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
