// `npm test`: every test on SQLite (ava's own configuration), then the scheduler core's tests on
// PostgreSQL (ava.postgres.config.mjs). Arguments (such as --tap) go to both runs; the exit code
// is the first run's failure, else the second's.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const ava = (extra) => spawnSync(process.execPath, ['node_modules/ava/entrypoints/cli.mjs', ...extra, ...args], { stdio: 'inherit' }).status ?? 1;
const first = ava([]);
const second = ava(['--config', 'ava.postgres.config.mjs']);
process.exit(first !== 0 ? first : second);
