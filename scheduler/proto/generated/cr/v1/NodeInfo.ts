// Original file: scheduler/proto/cr.proto


export interface NodeInfo {
  'name'?: (string);
  /**
   * alive | draining | dead
   */
  'state'?: (string);
  'slots'?: (number);
  'running'?: (number);
  'lastSeen'?: (number | string);
  'registeredAt'?: (number | string);
}

export interface NodeInfo__Output {
  'name': (string);
  /**
   * alive | draining | dead
   */
  'state': (string);
  'slots': (number);
  'running': (number);
  'lastSeen': (number);
  'registeredAt': (number);
}
