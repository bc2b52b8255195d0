import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { Assignment as _cr_v1_Assignment, Assignment__Output as _cr_v1_Assignment__Output } from './cr/v1/Assignment.js';
import type { AttemptReply as _cr_v1_AttemptReply, AttemptReply__Output as _cr_v1_AttemptReply__Output } from './cr/v1/AttemptReply.js';
import type { Command as _cr_v1_Command, Command__Output as _cr_v1_Command__Output } from './cr/v1/Command.js';
import type { ConnectRequest as _cr_v1_ConnectRequest, ConnectRequest__Output as _cr_v1_ConnectRequest__Output } from './cr/v1/ConnectRequest.js';
import type { Control as _cr_v1_Control, Control__Output as _cr_v1_Control__Output } from './cr/v1/Control.js';
import type { CreateTokenRequest as _cr_v1_CreateTokenRequest, CreateTokenRequest__Output as _cr_v1_CreateTokenRequest__Output } from './cr/v1/CreateTokenRequest.js';
import type { DownloadImageRequest as _cr_v1_DownloadImageRequest, DownloadImageRequest__Output as _cr_v1_DownloadImageRequest__Output } from './cr/v1/DownloadImageRequest.js';
import type { DrainRequest as _cr_v1_DrainRequest, DrainRequest__Output as _cr_v1_DrainRequest__Output } from './cr/v1/DrainRequest.js';
import type { FinishRequest as _cr_v1_FinishRequest, FinishRequest__Output as _cr_v1_FinishRequest__Output } from './cr/v1/FinishRequest.js';
import type { GetCodeReply as _cr_v1_GetCodeReply, GetCodeReply__Output as _cr_v1_GetCodeReply__Output } from './cr/v1/GetCodeReply.js';
import type { GetCodeRequest as _cr_v1_GetCodeRequest, GetCodeRequest__Output as _cr_v1_GetCodeRequest__Output } from './cr/v1/GetCodeRequest.js';
import type { GetLogsReply as _cr_v1_GetLogsReply, GetLogsReply__Output as _cr_v1_GetLogsReply__Output } from './cr/v1/GetLogsReply.js';
import type { GetLogsRequest as _cr_v1_GetLogsRequest, GetLogsRequest__Output as _cr_v1_GetLogsRequest__Output } from './cr/v1/GetLogsRequest.js';
import type { HeartbeatReply as _cr_v1_HeartbeatReply, HeartbeatReply__Output as _cr_v1_HeartbeatReply__Output } from './cr/v1/HeartbeatReply.js';
import type { HeartbeatRequest as _cr_v1_HeartbeatRequest, HeartbeatRequest__Output as _cr_v1_HeartbeatRequest__Output } from './cr/v1/HeartbeatRequest.js';
import type { ImageChunk as _cr_v1_ImageChunk, ImageChunk__Output as _cr_v1_ImageChunk__Output } from './cr/v1/ImageChunk.js';
import type { ImageInfo as _cr_v1_ImageInfo, ImageInfo__Output as _cr_v1_ImageInfo__Output } from './cr/v1/ImageInfo.js';
import type { ImageRef as _cr_v1_ImageRef, ImageRef__Output as _cr_v1_ImageRef__Output } from './cr/v1/ImageRef.js';
import type { JobInfo as _cr_v1_JobInfo, JobInfo__Output as _cr_v1_JobInfo__Output } from './cr/v1/JobInfo.js';
import type { JobRef as _cr_v1_JobRef, JobRef__Output as _cr_v1_JobRef__Output } from './cr/v1/JobRef.js';
import type { JoinReply as _cr_v1_JoinReply, JoinReply__Output as _cr_v1_JoinReply__Output } from './cr/v1/JoinReply.js';
import type { JoinRequest as _cr_v1_JoinRequest, JoinRequest__Output as _cr_v1_JoinRequest__Output } from './cr/v1/JoinRequest.js';
import type { ListImagesReply as _cr_v1_ListImagesReply, ListImagesReply__Output as _cr_v1_ListImagesReply__Output } from './cr/v1/ListImagesReply.js';
import type { ListJobsReply as _cr_v1_ListJobsReply, ListJobsReply__Output as _cr_v1_ListJobsReply__Output } from './cr/v1/ListJobsReply.js';
import type { ListJobsRequest as _cr_v1_ListJobsRequest, ListJobsRequest__Output as _cr_v1_ListJobsRequest__Output } from './cr/v1/ListJobsRequest.js';
import type { ListNodesReply as _cr_v1_ListNodesReply, ListNodesReply__Output as _cr_v1_ListNodesReply__Output } from './cr/v1/ListNodesReply.js';
import type { ListNodesRequest as _cr_v1_ListNodesRequest, ListNodesRequest__Output as _cr_v1_ListNodesRequest__Output } from './cr/v1/ListNodesRequest.js';
import type { ListTokensReply as _cr_v1_ListTokensReply, ListTokensReply__Output as _cr_v1_ListTokensReply__Output } from './cr/v1/ListTokensReply.js';
import type { ListTokensRequest as _cr_v1_ListTokensRequest, ListTokensRequest__Output as _cr_v1_ListTokensRequest__Output } from './cr/v1/ListTokensRequest.js';
import type { LogLine as _cr_v1_LogLine, LogLine__Output as _cr_v1_LogLine__Output } from './cr/v1/LogLine.js';
import type { NodeInfo as _cr_v1_NodeInfo, NodeInfo__Output as _cr_v1_NodeInfo__Output } from './cr/v1/NodeInfo.js';
import type { Registered as _cr_v1_Registered, Registered__Output as _cr_v1_Registered__Output } from './cr/v1/Registered.js';
import type { RenewRequest as _cr_v1_RenewRequest, RenewRequest__Output as _cr_v1_RenewRequest__Output } from './cr/v1/RenewRequest.js';
import type { ReportRequest as _cr_v1_ReportRequest, ReportRequest__Output as _cr_v1_ReportRequest__Output } from './cr/v1/ReportRequest.js';
import type { RevokeNodeReply as _cr_v1_RevokeNodeReply, RevokeNodeReply__Output as _cr_v1_RevokeNodeReply__Output } from './cr/v1/RevokeNodeReply.js';
import type { RevokeNodeRequest as _cr_v1_RevokeNodeRequest, RevokeNodeRequest__Output as _cr_v1_RevokeNodeRequest__Output } from './cr/v1/RevokeNodeRequest.js';
import type { RevokeTokenRequest as _cr_v1_RevokeTokenRequest, RevokeTokenRequest__Output as _cr_v1_RevokeTokenRequest__Output } from './cr/v1/RevokeTokenRequest.js';
import type { RunningAttempt as _cr_v1_RunningAttempt, RunningAttempt__Output as _cr_v1_RunningAttempt__Output } from './cr/v1/RunningAttempt.js';
import type { SchedulerClient as _cr_v1_SchedulerClient, SchedulerDefinition as _cr_v1_SchedulerDefinition } from './cr/v1/Scheduler.js';
import type { SubmitRequest as _cr_v1_SubmitRequest, SubmitRequest__Output as _cr_v1_SubmitRequest__Output } from './cr/v1/SubmitRequest.js';
import type { TokenInfo as _cr_v1_TokenInfo, TokenInfo__Output as _cr_v1_TokenInfo__Output } from './cr/v1/TokenInfo.js';
import type { UploadImageHeader as _cr_v1_UploadImageHeader, UploadImageHeader__Output as _cr_v1_UploadImageHeader__Output } from './cr/v1/UploadImageHeader.js';
import type { UploadImageMessage as _cr_v1_UploadImageMessage, UploadImageMessage__Output as _cr_v1_UploadImageMessage__Output } from './cr/v1/UploadImageMessage.js';
import type { UploadImageReply as _cr_v1_UploadImageReply, UploadImageReply__Output as _cr_v1_UploadImageReply__Output } from './cr/v1/UploadImageReply.js';
import type { UploadImageTrailer as _cr_v1_UploadImageTrailer, UploadImageTrailer__Output as _cr_v1_UploadImageTrailer__Output } from './cr/v1/UploadImageTrailer.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  cr: {
    v1: {
      Assignment: MessageTypeDefinition<_cr_v1_Assignment, _cr_v1_Assignment__Output>
      AttemptReply: MessageTypeDefinition<_cr_v1_AttemptReply, _cr_v1_AttemptReply__Output>
      Command: MessageTypeDefinition<_cr_v1_Command, _cr_v1_Command__Output>
      ConnectRequest: MessageTypeDefinition<_cr_v1_ConnectRequest, _cr_v1_ConnectRequest__Output>
      Control: MessageTypeDefinition<_cr_v1_Control, _cr_v1_Control__Output>
      CreateTokenRequest: MessageTypeDefinition<_cr_v1_CreateTokenRequest, _cr_v1_CreateTokenRequest__Output>
      DownloadImageRequest: MessageTypeDefinition<_cr_v1_DownloadImageRequest, _cr_v1_DownloadImageRequest__Output>
      DrainRequest: MessageTypeDefinition<_cr_v1_DrainRequest, _cr_v1_DrainRequest__Output>
      FinishRequest: MessageTypeDefinition<_cr_v1_FinishRequest, _cr_v1_FinishRequest__Output>
      GetCodeReply: MessageTypeDefinition<_cr_v1_GetCodeReply, _cr_v1_GetCodeReply__Output>
      GetCodeRequest: MessageTypeDefinition<_cr_v1_GetCodeRequest, _cr_v1_GetCodeRequest__Output>
      GetLogsReply: MessageTypeDefinition<_cr_v1_GetLogsReply, _cr_v1_GetLogsReply__Output>
      GetLogsRequest: MessageTypeDefinition<_cr_v1_GetLogsRequest, _cr_v1_GetLogsRequest__Output>
      HeartbeatReply: MessageTypeDefinition<_cr_v1_HeartbeatReply, _cr_v1_HeartbeatReply__Output>
      HeartbeatRequest: MessageTypeDefinition<_cr_v1_HeartbeatRequest, _cr_v1_HeartbeatRequest__Output>
      ImageChunk: MessageTypeDefinition<_cr_v1_ImageChunk, _cr_v1_ImageChunk__Output>
      ImageInfo: MessageTypeDefinition<_cr_v1_ImageInfo, _cr_v1_ImageInfo__Output>
      ImageRef: MessageTypeDefinition<_cr_v1_ImageRef, _cr_v1_ImageRef__Output>
      JobInfo: MessageTypeDefinition<_cr_v1_JobInfo, _cr_v1_JobInfo__Output>
      JobRef: MessageTypeDefinition<_cr_v1_JobRef, _cr_v1_JobRef__Output>
      JoinReply: MessageTypeDefinition<_cr_v1_JoinReply, _cr_v1_JoinReply__Output>
      JoinRequest: MessageTypeDefinition<_cr_v1_JoinRequest, _cr_v1_JoinRequest__Output>
      ListImagesReply: MessageTypeDefinition<_cr_v1_ListImagesReply, _cr_v1_ListImagesReply__Output>
      ListJobsReply: MessageTypeDefinition<_cr_v1_ListJobsReply, _cr_v1_ListJobsReply__Output>
      ListJobsRequest: MessageTypeDefinition<_cr_v1_ListJobsRequest, _cr_v1_ListJobsRequest__Output>
      ListNodesReply: MessageTypeDefinition<_cr_v1_ListNodesReply, _cr_v1_ListNodesReply__Output>
      ListNodesRequest: MessageTypeDefinition<_cr_v1_ListNodesRequest, _cr_v1_ListNodesRequest__Output>
      ListTokensReply: MessageTypeDefinition<_cr_v1_ListTokensReply, _cr_v1_ListTokensReply__Output>
      ListTokensRequest: MessageTypeDefinition<_cr_v1_ListTokensRequest, _cr_v1_ListTokensRequest__Output>
      LogLine: MessageTypeDefinition<_cr_v1_LogLine, _cr_v1_LogLine__Output>
      NodeInfo: MessageTypeDefinition<_cr_v1_NodeInfo, _cr_v1_NodeInfo__Output>
      Registered: MessageTypeDefinition<_cr_v1_Registered, _cr_v1_Registered__Output>
      RenewRequest: MessageTypeDefinition<_cr_v1_RenewRequest, _cr_v1_RenewRequest__Output>
      ReportRequest: MessageTypeDefinition<_cr_v1_ReportRequest, _cr_v1_ReportRequest__Output>
      RevokeNodeReply: MessageTypeDefinition<_cr_v1_RevokeNodeReply, _cr_v1_RevokeNodeReply__Output>
      RevokeNodeRequest: MessageTypeDefinition<_cr_v1_RevokeNodeRequest, _cr_v1_RevokeNodeRequest__Output>
      RevokeTokenRequest: MessageTypeDefinition<_cr_v1_RevokeTokenRequest, _cr_v1_RevokeTokenRequest__Output>
      RunningAttempt: MessageTypeDefinition<_cr_v1_RunningAttempt, _cr_v1_RunningAttempt__Output>
      Scheduler: SubtypeConstructor<typeof grpc.Client, _cr_v1_SchedulerClient> & { service: _cr_v1_SchedulerDefinition }
      SubmitRequest: MessageTypeDefinition<_cr_v1_SubmitRequest, _cr_v1_SubmitRequest__Output>
      TokenInfo: MessageTypeDefinition<_cr_v1_TokenInfo, _cr_v1_TokenInfo__Output>
      UploadImageHeader: MessageTypeDefinition<_cr_v1_UploadImageHeader, _cr_v1_UploadImageHeader__Output>
      UploadImageMessage: MessageTypeDefinition<_cr_v1_UploadImageMessage, _cr_v1_UploadImageMessage__Output>
      UploadImageReply: MessageTypeDefinition<_cr_v1_UploadImageReply, _cr_v1_UploadImageReply__Output>
      UploadImageTrailer: MessageTypeDefinition<_cr_v1_UploadImageTrailer, _cr_v1_UploadImageTrailer__Output>
    }
  }
}

