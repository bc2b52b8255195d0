// Capture: turns the registered states and regions into the sections of an image. States are
// serialized now (the job is paused at its safe point); regions are passed by reference and
// must not change until the image is written.
import type { SectionInput } from '../image/sections.js';
import type { RegionTypeName } from '../image/format.js';
import type { RegionMemory } from '../region.js';
import type { RegionTracker } from './tracker.js';
import type { SerializationArena } from './serialization-arena.js';
import { serializeState } from './state-serializer.js';

export interface RegisteredRegion {
  type: RegionTypeName;
  elementSize: number;
  memory: RegionMemory;
  /** Dirty tracking of the region, or null when changed blocks are found by hashing. */
  tracker: RegionTracker | null;
}

/**
 * The sections of an image of `states` and `regions`. With an `arena`, the states' v8 streams are
 * views of its memory, valid until its next capture.
 */
export function captureSections(states: Map<string, unknown>, regions: Map<string, RegisteredRegion>, arena: SerializationArena | null = null): SectionInput[] {
  const sections: SectionInput[] = [];
  arena?.begin();
  for (const [name, value] of states) {
    const serialized = serializeState(name, value, arena);
    sections.push({ kind: 'state', role: 'v8', name, data: serialized.v8 });
    for (const [index, buffer] of serialized.buffers.entries()) {
      sections.push({ kind: 'state', role: 'buffer', name, index, elementSize: buffer.elementSize, data: buffer.data });
    }
  }
  arena?.end();
  for (const [name, region] of regions) {
    sections.push({ kind: 'region', name, type: region.type, elementSize: region.elementSize, data: region.memory.bytes });
  }
  return sections;
}
