// Original file: scheduler/proto/cr.proto

import type { Registered as _cr_v1_Registered, Registered__Output as _cr_v1_Registered__Output } from '../../cr/v1/Registered.js';
import type { Assignment as _cr_v1_Assignment, Assignment__Output as _cr_v1_Assignment__Output } from '../../cr/v1/Assignment.js';
import type { Control as _cr_v1_Control, Control__Output as _cr_v1_Control__Output } from '../../cr/v1/Control.js';

export interface Command {
  'registered'?: (_cr_v1_Registered | null);
  'assign'?: (_cr_v1_Assignment | null);
  'control'?: (_cr_v1_Control | null);
  'command'?: "registered"|"assign"|"control";
}

export interface Command__Output {
  'registered'?: (_cr_v1_Registered__Output | null);
  'assign'?: (_cr_v1_Assignment__Output | null);
  'control'?: (_cr_v1_Control__Output | null);
  'command'?: "registered"|"assign"|"control";
}
