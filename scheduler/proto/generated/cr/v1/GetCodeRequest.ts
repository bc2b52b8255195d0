// Original file: scheduler/proto/cr.proto


export interface GetCodeRequest {
  'sha256'?: (string);
}

export interface GetCodeRequest__Output {
  'sha256': (string);
}
