// Original file: scheduler/proto/cr.proto


export interface ListNodesRequest {
}

export interface ListNodesRequest__Output {
}
