// Original file: scheduler/proto/cr.proto


export interface ListTokensRequest {
}

export interface ListTokensRequest__Output {
}
