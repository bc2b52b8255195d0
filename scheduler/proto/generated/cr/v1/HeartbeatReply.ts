// Original file: scheduler/proto/cr.proto


export interface HeartbeatReply {
  'known'?: (boolean);
}

export interface HeartbeatReply__Output {
  'known': (boolean);
}
