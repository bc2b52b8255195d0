// The rules of registration, one set for the job's `cr` and a team member's: what a state,
// region, shared buffer or stream may be called, what a region may be, and that a state comes
// back from the image it was restored from.
import { MAX_SECTION_NAME_LENGTH, REGION_TYPES, type RegionTypeName } from '../image/format.js';

/** The longest name a job may give its own states and regions: the image stores them as they are. */
export const MAX_NAME_LENGTH = MAX_SECTION_NAME_LENGTH;

/** Names starting with this belong to what cr keeps for the job (its clock, streams, files, team). */
export const RESERVED_PREFIX = 'cr:';

/**
 * A name must fit the image as its section's name: `prefix` is what cr puts before it there
 * ("cr:protect:", a team member's "cr:team:<rank>:"), so such names are that much shorter.
 */
export function checkName(what: string, name: unknown, prefix = ''): asserts name is string {
  const limit = MAX_NAME_LENGTH - prefix.length;
  if (typeof name !== 'string' || name.length === 0 || name.length > limit) {
    throw new TypeError(`${what} name must be a non-empty string of at most ${limit} characters`);
  }
}

export function checkNotReserved(what: string, name: string): void {
  if (name.startsWith(RESERVED_PREFIX)) throw new TypeError(`${what} name ${JSON.stringify(name)}: names starting with "${RESERVED_PREFIX}" are reserved for cr`);
}

export function regionTypeName(Ctor: unknown): RegionTypeName {
  for (const [name, C] of Object.entries(REGION_TYPES)) if (C === Ctor) return name as RegionTypeName;
  throw new TypeError(`region type must be a typed-array constructor (${Object.keys(REGION_TYPES).join(', ')})`);
}

export function checkLength(what: string, name: string, length: unknown): void {
  if (!Number.isSafeInteger(length) || (length as number) <= 0) {
    throw new RangeError(`${what} ${JSON.stringify(name)}: length must be a positive whole number of elements, got ${String(length)}`);
  }
}

/** A new region `name` of `Ctor`'s elements: its type, once the name, the type and `length` are checked. */
export function checkRegion(name: unknown, Ctor: unknown, length: unknown, registered: (name: string) => boolean, prefix = ''): RegionTypeName {
  checkName('region', name, prefix);
  checkNotReserved('region', name);
  if (registered(name)) throw new TypeError(`region ${JSON.stringify(name)} is already registered`);
  const type = regionTypeName(Ctor);
  checkLength('region', name, length);
  return type;
}

/** The states registered in one thread (a job's or a team member's), each under its own name. */
export class StateRegistry {
  /** Name → the value captured at each checkpoint; cr's own states ("cr:*") are set here directly. */
  readonly states = new Map<string, unknown>();
  readonly #restored: (name: string) => unknown;
  readonly #prefix: string;

  /** `restored`: the value a state had in the image this attempt starts from, undefined when it has none; `prefix`: see checkName. */
  constructor(restored: (name: string) => unknown, prefix = '') {
    this.#restored = restored;
    this.#prefix = prefix;
  }

  /** Registers `name` and returns its value: the restored one after a restart, `initial` otherwise. */
  register<T>(name: unknown, initial: T): T {
    checkName('state', name, this.#prefix);
    checkNotReserved('state', name);
    if (this.states.has(name)) throw new TypeError(`state ${JSON.stringify(name)} is already registered`);
    if (typeof initial !== 'object' || initial === null) {
      throw new TypeError(
        `state ${JSON.stringify(name)} must be an object, array, Map, Set or typed array that the job updates in place ` +
          `(got ${initial === null ? 'null' : typeof initial}); wrap a number as { value: 0 }`,
      );
    }
    const restored = this.#restored(name);
    const value = restored !== undefined ? (restored as T) : initial;
    this.states.set(name, value);
    return value;
  }
}
