// Original file: scheduler/proto/cr.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AttemptReply as _cr_v1_AttemptReply, AttemptReply__Output as _cr_v1_AttemptReply__Output } from '../../cr/v1/AttemptReply.js';
import type { Command as _cr_v1_Command, Command__Output as _cr_v1_Command__Output } from '../../cr/v1/Command.js';
import type { ConnectRequest as _cr_v1_ConnectRequest, ConnectRequest__Output as _cr_v1_ConnectRequest__Output } from '../../cr/v1/ConnectRequest.js';
import type { CreateTokenRequest as _cr_v1_CreateTokenRequest, CreateTokenRequest__Output as _cr_v1_CreateTokenRequest__Output } from '../../cr/v1/CreateTokenRequest.js';
import type { DownloadImageRequest as _cr_v1_DownloadImageRequest, DownloadImageRequest__Output as _cr_v1_DownloadImageRequest__Output } from '../../cr/v1/DownloadImageRequest.js';
import type { DrainRequest as _cr_v1_DrainRequest, DrainRequest__Output as _cr_v1_DrainRequest__Output } from '../../cr/v1/DrainRequest.js';
import type { FinishRequest as _cr_v1_FinishRequest, FinishRequest__Output as _cr_v1_FinishRequest__Output } from '../../cr/v1/FinishRequest.js';
import type { GetCodeReply as _cr_v1_GetCodeReply, GetCodeReply__Output as _cr_v1_GetCodeReply__Output } from '../../cr/v1/GetCodeReply.js';
import type { GetCodeRequest as _cr_v1_GetCodeRequest, GetCodeRequest__Output as _cr_v1_GetCodeRequest__Output } from '../../cr/v1/GetCodeRequest.js';
import type { GetLogsReply as _cr_v1_GetLogsReply, GetLogsReply__Output as _cr_v1_GetLogsReply__Output } from '../../cr/v1/GetLogsReply.js';
import type { GetLogsRequest as _cr_v1_GetLogsRequest, GetLogsRequest__Output as _cr_v1_GetLogsRequest__Output } from '../../cr/v1/GetLogsRequest.js';
import type { HeartbeatReply as _cr_v1_HeartbeatReply, HeartbeatReply__Output as _cr_v1_HeartbeatReply__Output } from '../../cr/v1/HeartbeatReply.js';
import type { HeartbeatRequest as _cr_v1_HeartbeatRequest, HeartbeatRequest__Output as _cr_v1_HeartbeatRequest__Output } from '../../cr/v1/HeartbeatRequest.js';
import type { ImageChunk as _cr_v1_ImageChunk, ImageChunk__Output as _cr_v1_ImageChunk__Output } from '../../cr/v1/ImageChunk.js';
import type { JobInfo as _cr_v1_JobInfo, JobInfo__Output as _cr_v1_JobInfo__Output } from '../../cr/v1/JobInfo.js';
import type { JobRef as _cr_v1_JobRef, JobRef__Output as _cr_v1_JobRef__Output } from '../../cr/v1/JobRef.js';
import type { JoinReply as _cr_v1_JoinReply, JoinReply__Output as _cr_v1_JoinReply__Output } from '../../cr/v1/JoinReply.js';
import type { JoinRequest as _cr_v1_JoinRequest, JoinRequest__Output as _cr_v1_JoinRequest__Output } from '../../cr/v1/JoinRequest.js';
import type { ListImagesReply as _cr_v1_ListImagesReply, ListImagesReply__Output as _cr_v1_ListImagesReply__Output } from '../../cr/v1/ListImagesReply.js';
import type { ListJobsReply as _cr_v1_ListJobsReply, ListJobsReply__Output as _cr_v1_ListJobsReply__Output } from '../../cr/v1/ListJobsReply.js';
import type { ListJobsRequest as _cr_v1_ListJobsRequest, ListJobsRequest__Output as _cr_v1_ListJobsRequest__Output } from '../../cr/v1/ListJobsRequest.js';
import type { ListNodesReply as _cr_v1_ListNodesReply, ListNodesReply__Output as _cr_v1_ListNodesReply__Output } from '../../cr/v1/ListNodesReply.js';
import type { ListNodesRequest as _cr_v1_ListNodesRequest, ListNodesRequest__Output as _cr_v1_ListNodesRequest__Output } from '../../cr/v1/ListNodesRequest.js';
import type { ListTokensReply as _cr_v1_ListTokensReply, ListTokensReply__Output as _cr_v1_ListTokensReply__Output } from '../../cr/v1/ListTokensReply.js';
import type { ListTokensRequest as _cr_v1_ListTokensRequest, ListTokensRequest__Output as _cr_v1_ListTokensRequest__Output } from '../../cr/v1/ListTokensRequest.js';
import type { NodeInfo as _cr_v1_NodeInfo, NodeInfo__Output as _cr_v1_NodeInfo__Output } from '../../cr/v1/NodeInfo.js';
import type { RenewRequest as _cr_v1_RenewRequest, RenewRequest__Output as _cr_v1_RenewRequest__Output } from '../../cr/v1/RenewRequest.js';
import type { ReportRequest as _cr_v1_ReportRequest, ReportRequest__Output as _cr_v1_ReportRequest__Output } from '../../cr/v1/ReportRequest.js';
import type { RevokeNodeReply as _cr_v1_RevokeNodeReply, RevokeNodeReply__Output as _cr_v1_RevokeNodeReply__Output } from '../../cr/v1/RevokeNodeReply.js';
import type { RevokeNodeRequest as _cr_v1_RevokeNodeRequest, RevokeNodeRequest__Output as _cr_v1_RevokeNodeRequest__Output } from '../../cr/v1/RevokeNodeRequest.js';
import type { RevokeTokenRequest as _cr_v1_RevokeTokenRequest, RevokeTokenRequest__Output as _cr_v1_RevokeTokenRequest__Output } from '../../cr/v1/RevokeTokenRequest.js';
import type { SubmitRequest as _cr_v1_SubmitRequest, SubmitRequest__Output as _cr_v1_SubmitRequest__Output } from '../../cr/v1/SubmitRequest.js';
import type { TokenInfo as _cr_v1_TokenInfo, TokenInfo__Output as _cr_v1_TokenInfo__Output } from '../../cr/v1/TokenInfo.js';
import type { UploadImageMessage as _cr_v1_UploadImageMessage, UploadImageMessage__Output as _cr_v1_UploadImageMessage__Output } from '../../cr/v1/UploadImageMessage.js';
import type { UploadImageReply as _cr_v1_UploadImageReply, UploadImageReply__Output as _cr_v1_UploadImageReply__Output } from '../../cr/v1/UploadImageReply.js';

export interface SchedulerClient extends grpc.Client {
  Cancel(argument: _cr_v1_JobRef, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  Cancel(argument: _cr_v1_JobRef, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  Cancel(argument: _cr_v1_JobRef, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  Cancel(argument: _cr_v1_JobRef, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  cancel(argument: _cr_v1_JobRef, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  cancel(argument: _cr_v1_JobRef, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  cancel(argument: _cr_v1_JobRef, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  cancel(argument: _cr_v1_JobRef, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  
  Checkpoint(argument: _cr_v1_JobRef, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  Checkpoint(argument: _cr_v1_JobRef, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  Checkpoint(argument: _cr_v1_JobRef, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  Checkpoint(argument: _cr_v1_JobRef, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  checkpoint(argument: _cr_v1_JobRef, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  checkpoint(argument: _cr_v1_JobRef, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  checkpoint(argument: _cr_v1_JobRef, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  checkpoint(argument: _cr_v1_JobRef, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  
  /**
   * --- node agents ---
   * Registers a node (or re-registers it after a restart of either side) and opens the stream
   * on which the scheduler sends it work. The first message is always `registered`.
   */
  Connect(argument: _cr_v1_ConnectRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_cr_v1_Command__Output>;
  Connect(argument: _cr_v1_ConnectRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_cr_v1_Command__Output>;
  /**
   * --- node agents ---
   * Registers a node (or re-registers it after a restart of either side) and opens the stream
   * on which the scheduler sends it work. The first message is always `registered`.
   */
  connect(argument: _cr_v1_ConnectRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_cr_v1_Command__Output>;
  connect(argument: _cr_v1_ConnectRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_cr_v1_Command__Output>;
  
  CreateToken(argument: _cr_v1_CreateTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_TokenInfo__Output>): grpc.ClientUnaryCall;
  CreateToken(argument: _cr_v1_CreateTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_TokenInfo__Output>): grpc.ClientUnaryCall;
  CreateToken(argument: _cr_v1_CreateTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_TokenInfo__Output>): grpc.ClientUnaryCall;
  CreateToken(argument: _cr_v1_CreateTokenRequest, callback: grpc.requestCallback<_cr_v1_TokenInfo__Output>): grpc.ClientUnaryCall;
  createToken(argument: _cr_v1_CreateTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_TokenInfo__Output>): grpc.ClientUnaryCall;
  createToken(argument: _cr_v1_CreateTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_TokenInfo__Output>): grpc.ClientUnaryCall;
  createToken(argument: _cr_v1_CreateTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_TokenInfo__Output>): grpc.ClientUnaryCall;
  createToken(argument: _cr_v1_CreateTokenRequest, callback: grpc.requestCallback<_cr_v1_TokenInfo__Output>): grpc.ClientUnaryCall;
  
  /**
   * Removes a finished job's images; the reply lists those removed.
   */
  DeleteImages(argument: _cr_v1_JobRef, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListImagesReply__Output>): grpc.ClientUnaryCall;
  DeleteImages(argument: _cr_v1_JobRef, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_ListImagesReply__Output>): grpc.ClientUnaryCall;
  DeleteImages(argument: _cr_v1_JobRef, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListImagesReply__Output>): grpc.ClientUnaryCall;
  DeleteImages(argument: _cr_v1_JobRef, callback: grpc.requestCallback<_cr_v1_ListImagesReply__Output>): grpc.ClientUnaryCall;
  /**
   * Removes a finished job's images; the reply lists those removed.
   */
  deleteImages(argument: _cr_v1_JobRef, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListImagesReply__Output>): grpc.ClientUnaryCall;
  deleteImages(argument: _cr_v1_JobRef, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_ListImagesReply__Output>): grpc.ClientUnaryCall;
  deleteImages(argument: _cr_v1_JobRef, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListImagesReply__Output>): grpc.ClientUnaryCall;
  deleteImages(argument: _cr_v1_JobRef, callback: grpc.requestCallback<_cr_v1_ListImagesReply__Output>): grpc.ClientUnaryCall;
  
  /**
   * An image file, or one byte range of it, in chunks.
   */
  DownloadImage(argument: _cr_v1_DownloadImageRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_cr_v1_ImageChunk__Output>;
  DownloadImage(argument: _cr_v1_DownloadImageRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_cr_v1_ImageChunk__Output>;
  /**
   * An image file, or one byte range of it, in chunks.
   */
  downloadImage(argument: _cr_v1_DownloadImageRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_cr_v1_ImageChunk__Output>;
  downloadImage(argument: _cr_v1_DownloadImageRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_cr_v1_ImageChunk__Output>;
  
  Drain(argument: _cr_v1_DrainRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_NodeInfo__Output>): grpc.ClientUnaryCall;
  Drain(argument: _cr_v1_DrainRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_NodeInfo__Output>): grpc.ClientUnaryCall;
  Drain(argument: _cr_v1_DrainRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_NodeInfo__Output>): grpc.ClientUnaryCall;
  Drain(argument: _cr_v1_DrainRequest, callback: grpc.requestCallback<_cr_v1_NodeInfo__Output>): grpc.ClientUnaryCall;
  drain(argument: _cr_v1_DrainRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_NodeInfo__Output>): grpc.ClientUnaryCall;
  drain(argument: _cr_v1_DrainRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_NodeInfo__Output>): grpc.ClientUnaryCall;
  drain(argument: _cr_v1_DrainRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_NodeInfo__Output>): grpc.ClientUnaryCall;
  drain(argument: _cr_v1_DrainRequest, callback: grpc.requestCallback<_cr_v1_NodeInfo__Output>): grpc.ClientUnaryCall;
  
  /**
   * How an attempt ended.
   */
  Finish(argument: _cr_v1_FinishRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_AttemptReply__Output>): grpc.ClientUnaryCall;
  Finish(argument: _cr_v1_FinishRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_AttemptReply__Output>): grpc.ClientUnaryCall;
  Finish(argument: _cr_v1_FinishRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_AttemptReply__Output>): grpc.ClientUnaryCall;
  Finish(argument: _cr_v1_FinishRequest, callback: grpc.requestCallback<_cr_v1_AttemptReply__Output>): grpc.ClientUnaryCall;
  /**
   * How an attempt ended.
   */
  finish(argument: _cr_v1_FinishRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_AttemptReply__Output>): grpc.ClientUnaryCall;
  finish(argument: _cr_v1_FinishRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_AttemptReply__Output>): grpc.ClientUnaryCall;
  finish(argument: _cr_v1_FinishRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_AttemptReply__Output>): grpc.ClientUnaryCall;
  finish(argument: _cr_v1_FinishRequest, callback: grpc.requestCallback<_cr_v1_AttemptReply__Output>): grpc.ClientUnaryCall;
  
  /**
   * The bundled code of a job, by its sha256.
   */
  GetCode(argument: _cr_v1_GetCodeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_GetCodeReply__Output>): grpc.ClientUnaryCall;
  GetCode(argument: _cr_v1_GetCodeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_GetCodeReply__Output>): grpc.ClientUnaryCall;
  GetCode(argument: _cr_v1_GetCodeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_GetCodeReply__Output>): grpc.ClientUnaryCall;
  GetCode(argument: _cr_v1_GetCodeRequest, callback: grpc.requestCallback<_cr_v1_GetCodeReply__Output>): grpc.ClientUnaryCall;
  /**
   * The bundled code of a job, by its sha256.
   */
  getCode(argument: _cr_v1_GetCodeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_GetCodeReply__Output>): grpc.ClientUnaryCall;
  getCode(argument: _cr_v1_GetCodeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_GetCodeReply__Output>): grpc.ClientUnaryCall;
  getCode(argument: _cr_v1_GetCodeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_GetCodeReply__Output>): grpc.ClientUnaryCall;
  getCode(argument: _cr_v1_GetCodeRequest, callback: grpc.requestCallback<_cr_v1_GetCodeReply__Output>): grpc.ClientUnaryCall;
  
  GetJob(argument: _cr_v1_JobRef, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  GetJob(argument: _cr_v1_JobRef, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  GetJob(argument: _cr_v1_JobRef, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  GetJob(argument: _cr_v1_JobRef, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  getJob(argument: _cr_v1_JobRef, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  getJob(argument: _cr_v1_JobRef, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  getJob(argument: _cr_v1_JobRef, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  getJob(argument: _cr_v1_JobRef, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  
  GetLogs(argument: _cr_v1_GetLogsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_GetLogsReply__Output>): grpc.ClientUnaryCall;
  GetLogs(argument: _cr_v1_GetLogsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_GetLogsReply__Output>): grpc.ClientUnaryCall;
  GetLogs(argument: _cr_v1_GetLogsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_GetLogsReply__Output>): grpc.ClientUnaryCall;
  GetLogs(argument: _cr_v1_GetLogsRequest, callback: grpc.requestCallback<_cr_v1_GetLogsReply__Output>): grpc.ClientUnaryCall;
  getLogs(argument: _cr_v1_GetLogsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_GetLogsReply__Output>): grpc.ClientUnaryCall;
  getLogs(argument: _cr_v1_GetLogsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_GetLogsReply__Output>): grpc.ClientUnaryCall;
  getLogs(argument: _cr_v1_GetLogsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_GetLogsReply__Output>): grpc.ClientUnaryCall;
  getLogs(argument: _cr_v1_GetLogsRequest, callback: grpc.requestCallback<_cr_v1_GetLogsReply__Output>): grpc.ClientUnaryCall;
  
  /**
   * Renews the node's lease. `known: false` means the session is over: reconnect.
   */
  Heartbeat(argument: _cr_v1_HeartbeatRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_HeartbeatReply__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _cr_v1_HeartbeatRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_HeartbeatReply__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _cr_v1_HeartbeatRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_HeartbeatReply__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _cr_v1_HeartbeatRequest, callback: grpc.requestCallback<_cr_v1_HeartbeatReply__Output>): grpc.ClientUnaryCall;
  /**
   * Renews the node's lease. `known: false` means the session is over: reconnect.
   */
  heartbeat(argument: _cr_v1_HeartbeatRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_HeartbeatReply__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _cr_v1_HeartbeatRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_HeartbeatReply__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _cr_v1_HeartbeatRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_HeartbeatReply__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _cr_v1_HeartbeatRequest, callback: grpc.requestCallback<_cr_v1_HeartbeatReply__Output>): grpc.ClientUnaryCall;
  
  /**
   * --- joining and tokens (docs/security-cluster.md) ---
   * An agent with an `agent` token gets a client certificate for its public key, signed by
   * the cluster CA; from then on it talks mutual TLS.
   */
  Join(argument: _cr_v1_JoinRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JoinReply__Output>): grpc.ClientUnaryCall;
  Join(argument: _cr_v1_JoinRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_JoinReply__Output>): grpc.ClientUnaryCall;
  Join(argument: _cr_v1_JoinRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JoinReply__Output>): grpc.ClientUnaryCall;
  Join(argument: _cr_v1_JoinRequest, callback: grpc.requestCallback<_cr_v1_JoinReply__Output>): grpc.ClientUnaryCall;
  /**
   * --- joining and tokens (docs/security-cluster.md) ---
   * An agent with an `agent` token gets a client certificate for its public key, signed by
   * the cluster CA; from then on it talks mutual TLS.
   */
  join(argument: _cr_v1_JoinRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JoinReply__Output>): grpc.ClientUnaryCall;
  join(argument: _cr_v1_JoinRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_JoinReply__Output>): grpc.ClientUnaryCall;
  join(argument: _cr_v1_JoinRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JoinReply__Output>): grpc.ClientUnaryCall;
  join(argument: _cr_v1_JoinRequest, callback: grpc.requestCallback<_cr_v1_JoinReply__Output>): grpc.ClientUnaryCall;
  
  ListImages(argument: _cr_v1_JobRef, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListImagesReply__Output>): grpc.ClientUnaryCall;
  ListImages(argument: _cr_v1_JobRef, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_ListImagesReply__Output>): grpc.ClientUnaryCall;
  ListImages(argument: _cr_v1_JobRef, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListImagesReply__Output>): grpc.ClientUnaryCall;
  ListImages(argument: _cr_v1_JobRef, callback: grpc.requestCallback<_cr_v1_ListImagesReply__Output>): grpc.ClientUnaryCall;
  listImages(argument: _cr_v1_JobRef, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListImagesReply__Output>): grpc.ClientUnaryCall;
  listImages(argument: _cr_v1_JobRef, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_ListImagesReply__Output>): grpc.ClientUnaryCall;
  listImages(argument: _cr_v1_JobRef, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListImagesReply__Output>): grpc.ClientUnaryCall;
  listImages(argument: _cr_v1_JobRef, callback: grpc.requestCallback<_cr_v1_ListImagesReply__Output>): grpc.ClientUnaryCall;
  
  ListJobs(argument: _cr_v1_ListJobsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListJobsReply__Output>): grpc.ClientUnaryCall;
  ListJobs(argument: _cr_v1_ListJobsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_ListJobsReply__Output>): grpc.ClientUnaryCall;
  ListJobs(argument: _cr_v1_ListJobsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListJobsReply__Output>): grpc.ClientUnaryCall;
  ListJobs(argument: _cr_v1_ListJobsRequest, callback: grpc.requestCallback<_cr_v1_ListJobsReply__Output>): grpc.ClientUnaryCall;
  listJobs(argument: _cr_v1_ListJobsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListJobsReply__Output>): grpc.ClientUnaryCall;
  listJobs(argument: _cr_v1_ListJobsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_ListJobsReply__Output>): grpc.ClientUnaryCall;
  listJobs(argument: _cr_v1_ListJobsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListJobsReply__Output>): grpc.ClientUnaryCall;
  listJobs(argument: _cr_v1_ListJobsRequest, callback: grpc.requestCallback<_cr_v1_ListJobsReply__Output>): grpc.ClientUnaryCall;
  
  ListNodes(argument: _cr_v1_ListNodesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListNodesReply__Output>): grpc.ClientUnaryCall;
  ListNodes(argument: _cr_v1_ListNodesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_ListNodesReply__Output>): grpc.ClientUnaryCall;
  ListNodes(argument: _cr_v1_ListNodesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListNodesReply__Output>): grpc.ClientUnaryCall;
  ListNodes(argument: _cr_v1_ListNodesRequest, callback: grpc.requestCallback<_cr_v1_ListNodesReply__Output>): grpc.ClientUnaryCall;
  listNodes(argument: _cr_v1_ListNodesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListNodesReply__Output>): grpc.ClientUnaryCall;
  listNodes(argument: _cr_v1_ListNodesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_ListNodesReply__Output>): grpc.ClientUnaryCall;
  listNodes(argument: _cr_v1_ListNodesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListNodesReply__Output>): grpc.ClientUnaryCall;
  listNodes(argument: _cr_v1_ListNodesRequest, callback: grpc.requestCallback<_cr_v1_ListNodesReply__Output>): grpc.ClientUnaryCall;
  
  ListTokens(argument: _cr_v1_ListTokensRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListTokensReply__Output>): grpc.ClientUnaryCall;
  ListTokens(argument: _cr_v1_ListTokensRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_ListTokensReply__Output>): grpc.ClientUnaryCall;
  ListTokens(argument: _cr_v1_ListTokensRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListTokensReply__Output>): grpc.ClientUnaryCall;
  ListTokens(argument: _cr_v1_ListTokensRequest, callback: grpc.requestCallback<_cr_v1_ListTokensReply__Output>): grpc.ClientUnaryCall;
  listTokens(argument: _cr_v1_ListTokensRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListTokensReply__Output>): grpc.ClientUnaryCall;
  listTokens(argument: _cr_v1_ListTokensRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_ListTokensReply__Output>): grpc.ClientUnaryCall;
  listTokens(argument: _cr_v1_ListTokensRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_ListTokensReply__Output>): grpc.ClientUnaryCall;
  listTokens(argument: _cr_v1_ListTokensRequest, callback: grpc.requestCallback<_cr_v1_ListTokensReply__Output>): grpc.ClientUnaryCall;
  
  /**
   * An agent renews its own client certificate before it expires (called with that certificate).
   */
  Renew(argument: _cr_v1_RenewRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JoinReply__Output>): grpc.ClientUnaryCall;
  Renew(argument: _cr_v1_RenewRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_JoinReply__Output>): grpc.ClientUnaryCall;
  Renew(argument: _cr_v1_RenewRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JoinReply__Output>): grpc.ClientUnaryCall;
  Renew(argument: _cr_v1_RenewRequest, callback: grpc.requestCallback<_cr_v1_JoinReply__Output>): grpc.ClientUnaryCall;
  /**
   * An agent renews its own client certificate before it expires (called with that certificate).
   */
  renew(argument: _cr_v1_RenewRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JoinReply__Output>): grpc.ClientUnaryCall;
  renew(argument: _cr_v1_RenewRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_JoinReply__Output>): grpc.ClientUnaryCall;
  renew(argument: _cr_v1_RenewRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JoinReply__Output>): grpc.ClientUnaryCall;
  renew(argument: _cr_v1_RenewRequest, callback: grpc.requestCallback<_cr_v1_JoinReply__Output>): grpc.ClientUnaryCall;
  
  /**
   * Progress and log lines of a running attempt.
   */
  Report(argument: _cr_v1_ReportRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_AttemptReply__Output>): grpc.ClientUnaryCall;
  Report(argument: _cr_v1_ReportRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_AttemptReply__Output>): grpc.ClientUnaryCall;
  Report(argument: _cr_v1_ReportRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_AttemptReply__Output>): grpc.ClientUnaryCall;
  Report(argument: _cr_v1_ReportRequest, callback: grpc.requestCallback<_cr_v1_AttemptReply__Output>): grpc.ClientUnaryCall;
  /**
   * Progress and log lines of a running attempt.
   */
  report(argument: _cr_v1_ReportRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_AttemptReply__Output>): grpc.ClientUnaryCall;
  report(argument: _cr_v1_ReportRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_AttemptReply__Output>): grpc.ClientUnaryCall;
  report(argument: _cr_v1_ReportRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_AttemptReply__Output>): grpc.ClientUnaryCall;
  report(argument: _cr_v1_ReportRequest, callback: grpc.requestCallback<_cr_v1_AttemptReply__Output>): grpc.ClientUnaryCall;
  
  /**
   * Revokes a node's certificates (and on loopback the agent tokens bound to it) and ends its
   * session: its jobs move, and the name may join again (admin).
   */
  RevokeNode(argument: _cr_v1_RevokeNodeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_RevokeNodeReply__Output>): grpc.ClientUnaryCall;
  RevokeNode(argument: _cr_v1_RevokeNodeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_RevokeNodeReply__Output>): grpc.ClientUnaryCall;
  RevokeNode(argument: _cr_v1_RevokeNodeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_RevokeNodeReply__Output>): grpc.ClientUnaryCall;
  RevokeNode(argument: _cr_v1_RevokeNodeRequest, callback: grpc.requestCallback<_cr_v1_RevokeNodeReply__Output>): grpc.ClientUnaryCall;
  /**
   * Revokes a node's certificates (and on loopback the agent tokens bound to it) and ends its
   * session: its jobs move, and the name may join again (admin).
   */
  revokeNode(argument: _cr_v1_RevokeNodeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_RevokeNodeReply__Output>): grpc.ClientUnaryCall;
  revokeNode(argument: _cr_v1_RevokeNodeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_RevokeNodeReply__Output>): grpc.ClientUnaryCall;
  revokeNode(argument: _cr_v1_RevokeNodeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_RevokeNodeReply__Output>): grpc.ClientUnaryCall;
  revokeNode(argument: _cr_v1_RevokeNodeRequest, callback: grpc.requestCallback<_cr_v1_RevokeNodeReply__Output>): grpc.ClientUnaryCall;
  
  RevokeToken(argument: _cr_v1_RevokeTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_TokenInfo__Output>): grpc.ClientUnaryCall;
  RevokeToken(argument: _cr_v1_RevokeTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_TokenInfo__Output>): grpc.ClientUnaryCall;
  RevokeToken(argument: _cr_v1_RevokeTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_TokenInfo__Output>): grpc.ClientUnaryCall;
  RevokeToken(argument: _cr_v1_RevokeTokenRequest, callback: grpc.requestCallback<_cr_v1_TokenInfo__Output>): grpc.ClientUnaryCall;
  revokeToken(argument: _cr_v1_RevokeTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_TokenInfo__Output>): grpc.ClientUnaryCall;
  revokeToken(argument: _cr_v1_RevokeTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_TokenInfo__Output>): grpc.ClientUnaryCall;
  revokeToken(argument: _cr_v1_RevokeTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_TokenInfo__Output>): grpc.ClientUnaryCall;
  revokeToken(argument: _cr_v1_RevokeTokenRequest, callback: grpc.requestCallback<_cr_v1_TokenInfo__Output>): grpc.ClientUnaryCall;
  
  /**
   * --- the CLI ---
   */
  Submit(argument: _cr_v1_SubmitRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  Submit(argument: _cr_v1_SubmitRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  Submit(argument: _cr_v1_SubmitRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  Submit(argument: _cr_v1_SubmitRequest, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  /**
   * --- the CLI ---
   */
  submit(argument: _cr_v1_SubmitRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  submit(argument: _cr_v1_SubmitRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  submit(argument: _cr_v1_SubmitRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  submit(argument: _cr_v1_SubmitRequest, callback: grpc.requestCallback<_cr_v1_JobInfo__Output>): grpc.ClientUnaryCall;
  
  /**
   * A committed image of an attempt, or one part of it (a parallel upload sends its parts on
   * several connections at once): the header, the chunks, then the trailer.
   */
  UploadImage(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_UploadImageReply__Output>): grpc.ClientWritableStream<_cr_v1_UploadImageMessage>;
  UploadImage(metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_UploadImageReply__Output>): grpc.ClientWritableStream<_cr_v1_UploadImageMessage>;
  UploadImage(options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_UploadImageReply__Output>): grpc.ClientWritableStream<_cr_v1_UploadImageMessage>;
  UploadImage(callback: grpc.requestCallback<_cr_v1_UploadImageReply__Output>): grpc.ClientWritableStream<_cr_v1_UploadImageMessage>;
  /**
   * A committed image of an attempt, or one part of it (a parallel upload sends its parts on
   * several connections at once): the header, the chunks, then the trailer.
   */
  uploadImage(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_UploadImageReply__Output>): grpc.ClientWritableStream<_cr_v1_UploadImageMessage>;
  uploadImage(metadata: grpc.Metadata, callback: grpc.requestCallback<_cr_v1_UploadImageReply__Output>): grpc.ClientWritableStream<_cr_v1_UploadImageMessage>;
  uploadImage(options: grpc.CallOptions, callback: grpc.requestCallback<_cr_v1_UploadImageReply__Output>): grpc.ClientWritableStream<_cr_v1_UploadImageMessage>;
  uploadImage(callback: grpc.requestCallback<_cr_v1_UploadImageReply__Output>): grpc.ClientWritableStream<_cr_v1_UploadImageMessage>;
  
}

export interface SchedulerHandlers extends grpc.UntypedServiceImplementation {
  Cancel: grpc.handleUnaryCall<_cr_v1_JobRef__Output, _cr_v1_JobInfo>;
  
  Checkpoint: grpc.handleUnaryCall<_cr_v1_JobRef__Output, _cr_v1_JobInfo>;
  
  /**
   * --- node agents ---
   * Registers a node (or re-registers it after a restart of either side) and opens the stream
   * on which the scheduler sends it work. The first message is always `registered`.
   */
  Connect: grpc.handleServerStreamingCall<_cr_v1_ConnectRequest__Output, _cr_v1_Command>;
  
  CreateToken: grpc.handleUnaryCall<_cr_v1_CreateTokenRequest__Output, _cr_v1_TokenInfo>;
  
  /**
   * Removes a finished job's images; the reply lists those removed.
   */
  DeleteImages: grpc.handleUnaryCall<_cr_v1_JobRef__Output, _cr_v1_ListImagesReply>;
  
  /**
   * An image file, or one byte range of it, in chunks.
   */
  DownloadImage: grpc.handleServerStreamingCall<_cr_v1_DownloadImageRequest__Output, _cr_v1_ImageChunk>;
  
  Drain: grpc.handleUnaryCall<_cr_v1_DrainRequest__Output, _cr_v1_NodeInfo>;
  
  /**
   * How an attempt ended.
   */
  Finish: grpc.handleUnaryCall<_cr_v1_FinishRequest__Output, _cr_v1_AttemptReply>;
  
  /**
   * The bundled code of a job, by its sha256.
   */
  GetCode: grpc.handleUnaryCall<_cr_v1_GetCodeRequest__Output, _cr_v1_GetCodeReply>;
  
  GetJob: grpc.handleUnaryCall<_cr_v1_JobRef__Output, _cr_v1_JobInfo>;
  
  GetLogs: grpc.handleUnaryCall<_cr_v1_GetLogsRequest__Output, _cr_v1_GetLogsReply>;
  
  /**
   * Renews the node's lease. `known: false` means the session is over: reconnect.
   */
  Heartbeat: grpc.handleUnaryCall<_cr_v1_HeartbeatRequest__Output, _cr_v1_HeartbeatReply>;
  
  /**
   * --- joining and tokens (docs/security-cluster.md) ---
   * An agent with an `agent` token gets a client certificate for its public key, signed by
   * the cluster CA; from then on it talks mutual TLS.
   */
  Join: grpc.handleUnaryCall<_cr_v1_JoinRequest__Output, _cr_v1_JoinReply>;
  
  ListImages: grpc.handleUnaryCall<_cr_v1_JobRef__Output, _cr_v1_ListImagesReply>;
  
  ListJobs: grpc.handleUnaryCall<_cr_v1_ListJobsRequest__Output, _cr_v1_ListJobsReply>;
  
  ListNodes: grpc.handleUnaryCall<_cr_v1_ListNodesRequest__Output, _cr_v1_ListNodesReply>;
  
  ListTokens: grpc.handleUnaryCall<_cr_v1_ListTokensRequest__Output, _cr_v1_ListTokensReply>;
  
  /**
   * An agent renews its own client certificate before it expires (called with that certificate).
   */
  Renew: grpc.handleUnaryCall<_cr_v1_RenewRequest__Output, _cr_v1_JoinReply>;
  
  /**
   * Progress and log lines of a running attempt.
   */
  Report: grpc.handleUnaryCall<_cr_v1_ReportRequest__Output, _cr_v1_AttemptReply>;
  
  /**
   * Revokes a node's certificates (and on loopback the agent tokens bound to it) and ends its
   * session: its jobs move, and the name may join again (admin).
   */
  RevokeNode: grpc.handleUnaryCall<_cr_v1_RevokeNodeRequest__Output, _cr_v1_RevokeNodeReply>;
  
  RevokeToken: grpc.handleUnaryCall<_cr_v1_RevokeTokenRequest__Output, _cr_v1_TokenInfo>;
  
  /**
   * --- the CLI ---
   */
  Submit: grpc.handleUnaryCall<_cr_v1_SubmitRequest__Output, _cr_v1_JobInfo>;
  
  /**
   * A committed image of an attempt, or one part of it (a parallel upload sends its parts on
   * several connections at once): the header, the chunks, then the trailer.
   */
  UploadImage: grpc.handleClientStreamingCall<_cr_v1_UploadImageMessage__Output, _cr_v1_UploadImageReply>;
  
}

export interface SchedulerDefinition extends grpc.ServiceDefinition {
  Cancel: MethodDefinition<_cr_v1_JobRef, _cr_v1_JobInfo, _cr_v1_JobRef__Output, _cr_v1_JobInfo__Output>
  Checkpoint: MethodDefinition<_cr_v1_JobRef, _cr_v1_JobInfo, _cr_v1_JobRef__Output, _cr_v1_JobInfo__Output>
  Connect: MethodDefinition<_cr_v1_ConnectRequest, _cr_v1_Command, _cr_v1_ConnectRequest__Output, _cr_v1_Command__Output>
  CreateToken: MethodDefinition<_cr_v1_CreateTokenRequest, _cr_v1_TokenInfo, _cr_v1_CreateTokenRequest__Output, _cr_v1_TokenInfo__Output>
  DeleteImages: MethodDefinition<_cr_v1_JobRef, _cr_v1_ListImagesReply, _cr_v1_JobRef__Output, _cr_v1_ListImagesReply__Output>
  DownloadImage: MethodDefinition<_cr_v1_DownloadImageRequest, _cr_v1_ImageChunk, _cr_v1_DownloadImageRequest__Output, _cr_v1_ImageChunk__Output>
  Drain: MethodDefinition<_cr_v1_DrainRequest, _cr_v1_NodeInfo, _cr_v1_DrainRequest__Output, _cr_v1_NodeInfo__Output>
  Finish: MethodDefinition<_cr_v1_FinishRequest, _cr_v1_AttemptReply, _cr_v1_FinishRequest__Output, _cr_v1_AttemptReply__Output>
  GetCode: MethodDefinition<_cr_v1_GetCodeRequest, _cr_v1_GetCodeReply, _cr_v1_GetCodeRequest__Output, _cr_v1_GetCodeReply__Output>
  GetJob: MethodDefinition<_cr_v1_JobRef, _cr_v1_JobInfo, _cr_v1_JobRef__Output, _cr_v1_JobInfo__Output>
  GetLogs: MethodDefinition<_cr_v1_GetLogsRequest, _cr_v1_GetLogsReply, _cr_v1_GetLogsRequest__Output, _cr_v1_GetLogsReply__Output>
  Heartbeat: MethodDefinition<_cr_v1_HeartbeatRequest, _cr_v1_HeartbeatReply, _cr_v1_HeartbeatRequest__Output, _cr_v1_HeartbeatReply__Output>
  Join: MethodDefinition<_cr_v1_JoinRequest, _cr_v1_JoinReply, _cr_v1_JoinRequest__Output, _cr_v1_JoinReply__Output>
  ListImages: MethodDefinition<_cr_v1_JobRef, _cr_v1_ListImagesReply, _cr_v1_JobRef__Output, _cr_v1_ListImagesReply__Output>
  ListJobs: MethodDefinition<_cr_v1_ListJobsRequest, _cr_v1_ListJobsReply, _cr_v1_ListJobsRequest__Output, _cr_v1_ListJobsReply__Output>
  ListNodes: MethodDefinition<_cr_v1_ListNodesRequest, _cr_v1_ListNodesReply, _cr_v1_ListNodesRequest__Output, _cr_v1_ListNodesReply__Output>
  ListTokens: MethodDefinition<_cr_v1_ListTokensRequest, _cr_v1_ListTokensReply, _cr_v1_ListTokensRequest__Output, _cr_v1_ListTokensReply__Output>
  Renew: MethodDefinition<_cr_v1_RenewRequest, _cr_v1_JoinReply, _cr_v1_RenewRequest__Output, _cr_v1_JoinReply__Output>
  Report: MethodDefinition<_cr_v1_ReportRequest, _cr_v1_AttemptReply, _cr_v1_ReportRequest__Output, _cr_v1_AttemptReply__Output>
  RevokeNode: MethodDefinition<_cr_v1_RevokeNodeRequest, _cr_v1_RevokeNodeReply, _cr_v1_RevokeNodeRequest__Output, _cr_v1_RevokeNodeReply__Output>
  RevokeToken: MethodDefinition<_cr_v1_RevokeTokenRequest, _cr_v1_TokenInfo, _cr_v1_RevokeTokenRequest__Output, _cr_v1_TokenInfo__Output>
  Submit: MethodDefinition<_cr_v1_SubmitRequest, _cr_v1_JobInfo, _cr_v1_SubmitRequest__Output, _cr_v1_JobInfo__Output>
  UploadImage: MethodDefinition<_cr_v1_UploadImageMessage, _cr_v1_UploadImageReply, _cr_v1_UploadImageMessage__Output, _cr_v1_UploadImageReply__Output>
}
