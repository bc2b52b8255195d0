// Original file: scheduler/proto/cr.proto

import type { RunningAttempt as _cr_v1_RunningAttempt, RunningAttempt__Output as _cr_v1_RunningAttempt__Output } from '../../cr/v1/RunningAttempt.js';

export interface ConnectRequest {
  'node'?: (string);
  'slots'?: (number);
  'running'?: (_cr_v1_RunningAttempt)[];
  'version'?: (string);
}

export interface ConnectRequest__Output {
  'node': (string);
  'slots': (number);
  'running': (_cr_v1_RunningAttempt__Output)[];
  'version': (string);
}
