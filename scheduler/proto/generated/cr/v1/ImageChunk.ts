// Original file: scheduler/proto/cr.proto


export interface ImageChunk {
  'data'?: (Buffer | Uint8Array | string);
}

export interface ImageChunk__Output {
  'data': (Buffer);
}
