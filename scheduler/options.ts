// Parsing of option values shared by commands: each says what is wrong with a bad value.
import { InvalidArgumentError } from 'commander';

export function parsePositiveNumber(what: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a positive number, got "${value}"`);
    return n;
  };
}

export function parseCount(what: string, min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${what} must be a whole number ≥ ${min}, got "${value}"`);
    return n;
  };
}

export function parseJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new InvalidArgumentError(`not valid JSON (${(err as Error).message}); quote it for the shell, e.g. --args '{"n": 256}'`);
  }
}
