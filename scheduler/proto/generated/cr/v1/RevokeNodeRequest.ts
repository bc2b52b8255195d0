// Original file: scheduler/proto/cr.proto


export interface RevokeNodeRequest {
  'node'?: (string);
}

export interface RevokeNodeRequest__Output {
  'node': (string);
}
