// Original file: scheduler/proto/cr.proto


export interface DownloadImageRequest {
  'job'?: (number);
  'sequence'?: (number);
}

export interface DownloadImageRequest__Output {
  'job': (number);
  'sequence': (number);
}
