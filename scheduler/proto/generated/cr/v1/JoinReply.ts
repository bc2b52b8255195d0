// Original file: scheduler/proto/cr.proto


export interface JoinReply {
  'certificatePem'?: (string);
  'caPem'?: (string);
}

export interface JoinReply__Output {
  'certificatePem': (string);
  'caPem': (string);
}
