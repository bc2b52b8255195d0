// Original file: scheduler/proto/cr.proto


export interface HeartbeatRequest {
  'node'?: (string);
  'session'?: (string);
  /**
   * The agent is stopping (SIGTERM): take no new work there and move its jobs through a
   * checkpoint, as `Drain` does, until the node registers again.
   */
  'draining'?: (boolean);
}

export interface HeartbeatRequest__Output {
  'node': (string);
  'session': (string);
  /**
   * The agent is stopping (SIGTERM): take no new work there and move its jobs through a
   * checkpoint, as `Drain` does, until the node registers again.
   */
  'draining': (boolean);
}
