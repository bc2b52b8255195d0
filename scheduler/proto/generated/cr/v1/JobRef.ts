// Original file: scheduler/proto/cr.proto


export interface JobRef {
  'job'?: (number);
}

export interface JobRef__Output {
  'job': (number);
}
