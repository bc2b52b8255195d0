// Original file: scheduler/proto/cr.proto


export interface GetCodeReply {
  'code'?: (Buffer | Uint8Array | string);
}

export interface GetCodeReply__Output {
  'code': (Buffer);
}
