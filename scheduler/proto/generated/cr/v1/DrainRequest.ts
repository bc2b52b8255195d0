// Original file: scheduler/proto/cr.proto


export interface DrainRequest {
  'node'?: (string);
  /**
   * Take work again (ends a drain).
   */
  'undo'?: (boolean);
}

export interface DrainRequest__Output {
  'node': (string);
  /**
   * Take work again (ends a drain).
   */
  'undo': (boolean);
}
