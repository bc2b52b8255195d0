// The version recorded in every image's `writer` field.
export const VERSION = '0.1.0';
export const WRITER_NAME = `cr ${VERSION}`;
