// The version recorded in every image's `writer` field.
export const VERSION = '0.1.0';
export const WRITER_NAME = `cr ${VERSION}`;
/**
 * The npm name of this package (package.json's `name`; a test checks they agree): what jobs
 * import `cr` and the types from. `cr` itself belongs to an unrelated package on npm.
 */
export const PACKAGE_NAME = 'cr-checkpoint';
