// The library's errors say what is wrong in the library's terms; which of `cr-scheduler run`'s
// flags is the way out is said here, by the error's stable code. Only `run` has these flags: an
// agent's attempts report the library's message as it is.

/** What `run` adds to the library's message, by code: the joining words included. */
const REMEDIES: Readonly<Record<string, string>> = {
  CR_NO_IMAGE: '; start over with --fresh, or give an image with --from',
  CR_REGION_MISMATCH: ', or start over with --fresh',
  CR_FILE_MISMATCH: ', or start over with --fresh',
  CR_STORE_LOCKED: '; or run it under another --name or --store',
};

/** `message` of an error with `code`, with the flags of `run` that remedy it. */
export function withRunRemedy(code: string | null | undefined, message: string): string {
  const remedy = code == null ? undefined : REMEDIES[code];
  return remedy === undefined ? message : `${message}${remedy}`;
}
