import type { Cr } from './cr.js';

/**
 * What a job module exports as its default: `(cr, args) => result`. `args` holds the job's
 * arguments (the `--args` JSON, `{}` when none are given); the result is printed as JSON at the
 * end, so it should be JSON data. In TypeScript:
 *
 * ```ts
 * import type { Job } from 'cr-checkpoint';
 * const job: Job<{ steps?: number }, { sum: number }> = async (cr, { steps = 100 }) => { ... };
 * export default job;
 * ```
 *
 * In JavaScript, a JSDoc `@param {import('cr-checkpoint').Cr} cr` gives the editor the same types.
 */
export type Job<Args = Record<string, unknown>, Result = unknown> = (cr: Cr, args: Args) => Promise<Result> | Result;
