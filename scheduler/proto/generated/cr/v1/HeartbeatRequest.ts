// Original file: scheduler/proto/cr.proto


export interface HeartbeatRequest {
  'node'?: (string);
  'session'?: (string);
}

export interface HeartbeatRequest__Output {
  'node': (string);
  'session': (string);
}
