// Original file: scheduler/proto/cr.proto


export interface SubmitRequest {
  'name'?: (string);
  'code'?: (Buffer | Uint8Array | string);
  'argsJson'?: (string);
  'retries'?: (number);
  'priority'?: (number);
  'intervalMs'?: (number);
  'fullEvery'?: (number);
}

export interface SubmitRequest__Output {
  'name': (string);
  'code': (Buffer);
  'argsJson': (string);
  'retries': (number);
  'priority': (number);
  'intervalMs': (number);
  'fullEvery': (number);
}
