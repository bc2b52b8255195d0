// Run by ava.postgres.config.mjs in place of the PostgreSQL runs when PostgreSQL is not installed.
import test from 'ava';
import { postgresProblem } from './postgres.js';

const problem = postgresProblem() ?? 'PostgreSQL was found after all: run npm test again';
test.skip(`The scheduler tests that touch the database, on PostgreSQL (skipped: ${problem})`, () => undefined);
